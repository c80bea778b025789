//! The filter as an OCI image (`egressc package`), in the layout Istio's
//! WasmPlugin fetcher accepts as the "compat" variant: one
//! `application/vnd.oci.image.layer.v1.tar+gzip` layer whose tar holds
//! `plugin.wasm` (solo-io/wasm `spec/spec-compat.md`; istio/istio
//! `pkg/wasm/imagefetcher.go` takes the last layer of that media type and
//! reads the file whose base name is `plugin.wasm`), with the manifest
//! annotation `module.wasm.image/variant: compat` the spec asks for.
//!
//! The result is an OCI image layout (image-spec `image-layout.md`):
//! `oci-layout`, `index.json` and `blobs/sha256/<digest>` for the layer, the
//! image config and the manifest. oras (`oras cp --from-oci-layout
//! DIR:TAG …`), crane (`crane push DIR …`) and skopeo (`skopeo copy
//! oci:DIR:TAG …`) push it without docker.
//!
//! Reproducible: the same module gives the same bytes — the tar entry has
//! mtime 0, uid/gid 0, mode 0644 and no user names; the gzip header has no
//! file name and mtime 0; JSON is compact with sorted keys; nothing records
//! the time or the machine. (The gzip stream depends on the `flate2`
//! backend's version, so two `egressc` builds with different dependency
//! versions may compress differently; one `egressc` always gives the same
//! digests.)

use std::io::Write as _;

use sha2::{Digest as _, Sha256};

/// The layer media type of the compat variant.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// An OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image config.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// An OCI image index.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// The file name Istio looks for in the layer.
pub const PLUGIN_FILE: &str = "plugin.wasm";

/// The lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An image layout: its files (relative paths, `/`-separated, in a fixed
/// order) and the digests that identify it.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `oci-layout`, `index.json`, then the blobs by path.
    pub files: Vec<(String, Vec<u8>)>,
    /// `sha256:<hex>` of the manifest: the image's digest in a registry,
    /// and what WasmPlugin `sha256` must be for an `oci://` URL.
    pub manifest_digest: String,
    /// `sha256:<hex>` of the gzipped layer.
    pub layer_digest: String,
    /// The tag (`org.opencontainers.image.ref.name`).
    pub tag: String,
}

/// One entry of a tar archive.
enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
}

/// A POSIX ustar archive of `entries` (IEEE Std 1003.1 `pax` "ustar
/// Interchange Format"): a 512-byte header per entry, data padded to 512
/// bytes, two zero blocks at the end. Names are at most 100 bytes.
fn tar(entries: &[Entry<'_>]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for e in entries {
        let (name, mode, kind, data): (&str, u32, u8, &[u8]) = match e {
            Entry::Dir(n) => (n, 0o755, b'5', &[]),
            Entry::File(n, d) => (n, 0o644, b'0', d),
        };
        if name.len() > 100 {
            return Err(format!("tar entry name too long: {name}"));
        }
        let mut h = [0u8; 512];
        put(&mut h, 0, name.as_bytes());
        put(&mut h, 100, format!("{mode:07o}\0").as_bytes());
        put(&mut h, 108, b"0000000\0"); // uid
        put(&mut h, 116, b"0000000\0"); // gid
        put(&mut h, 124, format!("{:011o}\0", data.len()).as_bytes());
        put(&mut h, 136, b"00000000000\0"); // mtime: 1970-01-01
        put(&mut h, 148, b"        "); // checksum, as spaces while summing
        put(&mut h, 156, &[kind]);
        put(&mut h, 257, b"ustar\0");
        put(&mut h, 263, b"00");
        put(&mut h, 329, b"0000000\0"); // devmajor
        put(&mut h, 337, b"0000000\0"); // devminor
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    Ok(out)
}

/// Writes `bytes` at `at` into a tar header.
fn put(h: &mut [u8; 512], at: usize, bytes: &[u8]) {
    if let Some(slot) = h.get_mut(at..at + bytes.len()) {
        slot.copy_from_slice(bytes);
    }
}

/// `bytes` gzipped (RFC 1952) with a header that records no name, no time
/// and "unknown" as the operating system.
fn gzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes)
        .and_then(|()| enc.finish())
        .map_err(|e| format!("gzip: {e}"))
}

/// The bytes of a JSON document with its object keys sorted: the same bytes
/// (and so the same digests) whichever serde_json features the build
/// unified (`preserve_order`, which cedar-policy turns on, would otherwise
/// keep insertion order).
fn canonical(mut v: serde_json::Value) -> Vec<u8> {
    v.sort_all_objects();
    v.to_string().into_bytes()
}

fn descriptor(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "mediaType": media_type,
        "digest": format!("sha256:{}", sha256_hex(bytes)),
        "size": bytes.len(),
    })
}

/// The image of `module`, tagged `tag`.
pub fn image(module: &[u8], tag: &str) -> Result<Layout, String> {
    if module.get(..4) != Some(b"\0asm".as_slice()) {
        return Err("the module is not WebAssembly (no \\0asm magic)".to_owned());
    }
    let layer_tar = tar(&[Entry::File(PLUGIN_FILE, module)])?;
    let layer = gzip(&layer_tar)?;
    // The image config (image-spec config.md): GOOS/GOARCH names for a
    // WASI module, the uncompressed layer's digest as its diff_id.
    let config = canonical(serde_json::json!({
        "architecture": "wasm",
        "os": "wasip1",
        "config": {},
        "rootfs": {
            "type": "layers",
            "diff_ids": [format!("sha256:{}", sha256_hex(&layer_tar))],
        },
    }));
    let manifest = canonical(serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": descriptor(CONFIG_MEDIA_TYPE, &config),
        "layers": [descriptor(LAYER_MEDIA_TYPE, &layer)],
        "annotations": {
            "module.wasm.image/variant": "compat",
            "org.opencontainers.image.title": PLUGIN_FILE,
        },
    }));
    let mut manifest_desc = descriptor(MANIFEST_MEDIA_TYPE, &manifest);
    if let Some(o) = manifest_desc.as_object_mut() {
        o.insert(
            "annotations".into(),
            serde_json::json!({"org.opencontainers.image.ref.name": tag}),
        );
    }
    let index = canonical(serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [manifest_desc],
    }));
    let manifest_digest = format!("sha256:{}", sha256_hex(&manifest));
    let layer_digest = format!("sha256:{}", sha256_hex(&layer));
    let mut blobs: Vec<(String, Vec<u8>)> = [layer, config, manifest]
        .into_iter()
        .map(|b| (format!("blobs/sha256/{}", sha256_hex(&b)), b))
        .collect();
    blobs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut files = vec![
        (
            "oci-layout".to_owned(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        ("index.json".to_owned(), index),
    ];
    files.extend(blobs);
    Ok(Layout {
        files,
        manifest_digest,
        layer_digest,
        tag: tag.to_owned(),
    })
}

/// The layout as one tar archive (what `skopeo copy oci-archive:FILE` and
/// `oras cp --from-oci-layout FILE:TAG` read), with its directories.
pub fn layout_tar(layout: &Layout) -> Result<Vec<u8>, String> {
    let mut entries = Vec::new();
    let mut files = layout.files.iter();
    for (name, data) in files.by_ref().take(2) {
        entries.push(Entry::File(name, data));
    }
    entries.push(Entry::Dir("blobs/"));
    entries.push(Entry::Dir("blobs/sha256/"));
    for (name, data) in files {
        entries.push(Entry::File(name, data));
    }
    tar(&entries)
}

/// The `oci://` URL a bundle names when none is given: a placeholder for
/// the registry the image `egressc package` writes is pushed to.
pub fn placeholder_url() -> String {
    format!("oci://registry.example/egress-filter:{}", crate::VERSION)
}

/// The digest for WasmPlugin `sha256`: Istio checks an `oci://` image by its
/// manifest digest and an `http(s)://` download by the module's; a URL
/// pinned with `@sha256:` must agree with the field.
pub fn url_sha256(url: &str, module: &[u8]) -> Result<String, String> {
    if let Some(rest) = url.strip_prefix("oci://") {
        if let Some((_, digest)) = rest.rsplit_once("@sha256:") {
            if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(digest.to_ascii_lowercase());
            }
            return Err(format!(
                "{url}: the digest after @sha256: must be 64 hex digits"
            ));
        }
        let layout = image(module, crate::VERSION)?;
        return Ok(layout
            .manifest_digest
            .trim_start_matches("sha256:")
            .to_owned());
    }
    Ok(sha256_hex(module))
}

/// Checks a filter URL (`--wasm-url`): a scheme Istio fetches from, and no
/// spaces. The message starts with the URL; callers name where it came from.
pub fn check_url(url: &str) -> Result<(), String> {
    let scheme_ok = ["oci://", "https://", "http://", "file://"]
        .iter()
        .any(|s| url.starts_with(s) && url.len() > s.len());
    if !scheme_ok {
        return Err(format!(
            "{url}: expected oci://REGISTRY/NAME:TAG (an image `egressc package` wrote and you pushed), https://HOST/PATH/egress_filter.wasm, or file:///PATH on the proxy"
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{url:?}: a URL has no spaces"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &[u8] = b"\0asm\x01\0\0\0 a tiny stand-in module";

    #[test]
    fn tar_headers_have_valid_checksums_and_padding() {
        let t = tar(&[Entry::File("plugin.wasm", MODULE)]).unwrap();
        assert_eq!(t.len(), 512 + 512 + 1024);
        let h = &t[..512];
        let stored = u32::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
        let sum: u32 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(b)
                }
            })
            .sum();
        assert_eq!(stored, sum);
        assert_eq!(&h[257..263], b"ustar\0");
        assert_eq!(&t[512..512 + MODULE.len()], MODULE);
        assert!(tar(&[Entry::File(&"x".repeat(101), MODULE)]).is_err());
    }

    #[test]
    fn the_same_module_gives_the_same_image() {
        let a = image(MODULE, "0.1.0").unwrap();
        let b = image(MODULE, "0.1.0").unwrap();
        assert_eq!(a.files, b.files);
        assert_eq!(a.manifest_digest, b.manifest_digest);
        assert_ne!(
            image(b"\0asmX", "0.1.0").unwrap().layer_digest,
            a.layer_digest
        );
        assert!(image(b"nope", "x").is_err());
        // gzip header: magic, deflate, no flags, mtime 0, OS 255.
        let layer = &a
            .files
            .iter()
            .find(|(n, _)| n.ends_with(&a.layer_digest[7..]))
            .unwrap()
            .1;
        assert_eq!(&layer[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255]);
        assert_eq!(layout_tar(&a).unwrap(), layout_tar(&b).unwrap());
    }
}
