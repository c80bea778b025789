//! `egressc package`: the OCI image layout of the filter, checked the way a
//! registry client reads it — every digest and size recomputed from the
//! bytes, the layer gunzipped and untarred, and `plugin.wasm` compared byte
//! for byte with the module; the same module twice gives the same bytes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

mod common;

/// `egressc ARGS` at the repository's root.
fn egressc(args: &[&str]) -> Output {
    common::egressc_in(&common::repo(), args)
}

fn scratch(name: &str) -> PathBuf {
    common::scratch("package", name)
}

fn sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The entries of a ustar archive: (name, type flag, data). Checks each
/// header's checksum and the two zero blocks at the end.
fn untar(t: &[u8]) -> Vec<(String, u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let h = &t[at..at + 512];
        if h.iter().all(|&b| b == 0) {
            assert!(t[at..].iter().all(|&b| b == 0), "data after the end blocks");
            assert!(t.len() - at >= 1024, "fewer than two end blocks");
            return out;
        }
        let field = |a: usize, n: usize| {
            let f = &h[a..a + n];
            let end = f.iter().position(|&b| b == 0 || b == b' ').unwrap_or(n);
            std::str::from_utf8(&f[..end]).unwrap().to_owned()
        };
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
        assert_eq!(
            u32::from_str_radix(&field(148, 8), 8).unwrap(),
            sum,
            "header checksum"
        );
        assert_eq!(&h[257..263], b"ustar\0");
        assert_eq!(field(136, 12), "00000000000", "mtime must be 0");
        assert_eq!(field(108, 8), "0000000", "uid must be 0");
        let size = usize::from_str_radix(&field(124, 12), 8).unwrap();
        let name = field(0, 100);
        let data = t[at + 512..at + 512 + size].to_vec();
        out.push((name, h[156], data));
        at += 512 + size.div_ceil(512) * 512;
    }
}

/// Reads a layout (from a directory or a tar of one) as path → bytes.
fn read_layout(files: &[(String, Vec<u8>)], module: &[u8], tag: &str) -> String {
    let get = |p: &str| {
        &files
            .iter()
            .find(|(n, _)| n == p)
            .unwrap_or_else(|| panic!("{p} missing"))
            .1
    };
    let layout: Value = serde_json::from_slice(get("oci-layout")).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index: Value = serde_json::from_slice(get("index.json")).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let desc = &index["manifests"][0];
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(
        desc["annotations"]["org.opencontainers.image.ref.name"],
        tag
    );
    // Every blob is named by its digest, and every descriptor's size is right.
    let blob = |d: &Value| -> Vec<u8> {
        let digest = d["digest"].as_str().unwrap();
        let hex = digest.strip_prefix("sha256:").unwrap();
        let bytes = get(&format!("blobs/sha256/{hex}")).clone();
        assert_eq!(
            sha256(&bytes),
            hex,
            "blob content does not match its digest"
        );
        assert_eq!(
            d["size"].as_u64().unwrap(),
            bytes.len() as u64,
            "descriptor size"
        );
        bytes
    };
    let manifest_bytes = blob(desc);
    assert_eq!(
        desc["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["annotations"]["module.wasm.image/variant"],
        "compat"
    );
    let config: Value = serde_json::from_slice(&blob(&manifest["config"])).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "the compat variant has one layer");
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let gz = blob(&layers[0]);
    // gzip header: no name, no time.
    assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0]);
    assert_eq!(&gz[4..8], &[0, 0, 0, 0]);
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut tar)
        .unwrap();
    assert_eq!(
        config["rootfs"]["diff_ids"][0].as_str().unwrap(),
        format!("sha256:{}", sha256(&tar)),
        "diff_id is the digest of the uncompressed layer"
    );
    assert_eq!(
        (config["architecture"].as_str(), config["os"].as_str()),
        (Some("wasm"), Some("wasip1"))
    );
    let entries = untar(&tar);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, "plugin.wasm");
    assert_eq!(entries[0].1, b'0');
    assert!(
        entries[0].2 == module,
        "plugin.wasm differs from the module"
    );
    // No file the layout does not account for.
    let mut expected = vec![
        "oci-layout".to_owned(),
        "index.json".to_owned(),
        format!("blobs/sha256/{}", sha256(&manifest_bytes)),
        format!(
            "blobs/sha256/{}",
            &manifest["config"]["digest"].as_str().unwrap()[7..]
        ),
        format!(
            "blobs/sha256/{}",
            &layers[0]["digest"].as_str().unwrap()[7..]
        ),
    ];
    expected.sort();
    let mut names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    assert_eq!(names, expected);
    desc["digest"].as_str().unwrap().to_owned()
}

fn read_dir(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

#[test]
fn the_layout_checks_out_digest_by_digest() {
    let d = scratch("layout");
    let module = b"\0asm\x01\0\0\0 stand-in module for the layout test".to_vec();
    let wasm = d.join("m.wasm");
    std::fs::write(&wasm, &module).unwrap();
    let dir = d.join("oci");
    let out = egressc(&[
        "package",
        "--wasm",
        wasm.to_str().unwrap(),
        "-o",
        dir.to_str().unwrap(),
        "--tag",
        "v1",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let digest = read_layout(&read_dir(&dir), &module, "v1");
    assert!(stdout.contains(&format!("manifest {digest}")), "{stdout}");
    assert!(stdout.contains("oras cp --from-oci-layout"), "{stdout}");

    // The same layout as one tar file, with its directories.
    let tar_path = d.join("oci.tar");
    let out = egressc(&[
        "package",
        "--wasm",
        wasm.to_str().unwrap(),
        "-o",
        tar_path.to_str().unwrap(),
        "--tag",
        "v1",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let outer = untar(&std::fs::read(&tar_path).unwrap());
    let dirs: Vec<&str> = outer
        .iter()
        .filter(|e| e.1 == b'5')
        .map(|e| e.0.as_str())
        .collect();
    assert_eq!(dirs, ["blobs/", "blobs/sha256/"]);
    let files: Vec<(String, Vec<u8>)> = outer
        .into_iter()
        .filter(|e| e.1 == b'0')
        .map(|(n, _, d)| (n, d))
        .collect();
    assert_eq!(read_layout(&files, &module, "v1"), digest);

    // Reproducible: again, byte for byte; a second run replaces the layout.
    let tar2 = d.join("again.tar");
    egressc(&[
        "package",
        "--wasm",
        wasm.to_str().unwrap(),
        "-o",
        tar2.to_str().unwrap(),
        "--tag",
        "v1",
    ]);
    assert_eq!(
        std::fs::read(&tar_path).unwrap(),
        std::fs::read(&tar2).unwrap()
    );
    let again = egressc(&[
        "package",
        "--wasm",
        wasm.to_str().unwrap(),
        "-o",
        dir.to_str().unwrap(),
        "--tag",
        "v1",
    ]);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(read_layout(&read_dir(&dir), &module, "v1"), digest);

    // An independent reader: the system's tar and gzip, where present.
    if Command::new("tar").arg("--version").output().is_ok() {
        let layer = read_dir(&dir)
            .into_iter()
            .find(|(n, b)| n.starts_with("blobs/") && b.starts_with(&[0x1f, 0x8b]))
            .unwrap();
        let layer_path = d.join("layer.tar.gz");
        std::fs::write(&layer_path, &layer.1).unwrap();
        let x = Command::new("tar")
            .args(["-xzOf", layer_path.to_str().unwrap(), "plugin.wasm"])
            .output()
            .unwrap();
        assert!(x.status.success(), "{}", String::from_utf8_lossy(&x.stderr));
        assert!(x.stdout == module);
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// The module built into egressc is what `egressc version` describes and
/// what `egressc package` packs by default.
#[test]
fn the_built_in_module_is_packaged_by_default() {
    let d = scratch("builtin");
    let v = egressc(&["version"]);
    assert_eq!(v.status.code(), Some(0));
    let version = String::from_utf8_lossy(&v.stdout).into_owned();
    assert!(
        version.starts_with(&format!("egressc {}\n", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    assert!(version.contains(&format!(
        "table format {}.{}",
        egress_table::format::VERSION_MAJOR,
        egress_table::format::VERSION_MINOR
    )));
    let sha = version
        .split("sha256:")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let dir = d.join("oci");
    let out = egressc(&["package", "-o", dir.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = read_dir(&dir);
    let layer = files
        .iter()
        .find(|(_, b)| b.starts_with(&[0x1f, 0x8b]))
        .unwrap();
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&layer.1[..])
        .read_to_end(&mut tar)
        .unwrap();
    let module = untar(&tar).remove(0).2;
    assert_eq!(sha256(&module), sha);
    assert!(module.starts_with(b"\0asm"));
    read_layout(&files, &module, env!("CARGO_PKG_VERSION"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_inputs_are_refused_and_nothing_is_written() {
    let d = scratch("bad");
    let not_wasm = d.join("x.wasm");
    std::fs::write(&not_wasm, b"not a module").unwrap();
    let target = d.join("out");
    let out = egressc(&[
        "package",
        "--wasm",
        not_wasm.to_str().unwrap(),
        "-o",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a WebAssembly module"));
    assert!(!target.exists());
    let missing = egressc(&[
        "package",
        "--wasm",
        d.join("nope.wasm").to_str().unwrap(),
        "-o",
        target.to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such file"));
    // A directory that is not a layout is never overwritten.
    let busy = d.join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("keep.txt"), b"mine").unwrap();
    let out = egressc(&["package", "-o", busy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an OCI image layout"));
    assert_eq!(std::fs::read(busy.join("keep.txt")).unwrap(), b"mine");
    let tag = egressc(&[
        "package",
        "-o",
        target.to_str().unwrap(),
        "--tag",
        "-bad tag",
    ]);
    assert_eq!(tag.status.code(), Some(2));
    assert!(!target.exists());
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    let _ = std::fs::remove_dir_all(&d);
}
