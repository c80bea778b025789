//! Reading policy files and writing outputs atomically.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use egressc::Sources;

/// Expands directories into their `*.egress` files (sorted), keeping files as given.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("cannot read directory {}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "egress"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(format!("{} contains no *.egress files", p.display()));
            }
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Reads files into a source set; `-` is standard input (`<stdin>`).
pub fn load(paths: &[PathBuf]) -> Result<Sources, String> {
    let mut sources = Sources::new();
    let stdin = paths.iter().filter(|p| p.as_os_str() == "-").count();
    if stdin > 1 {
        return Err("`-` (standard input) can be given only once".to_owned());
    }
    for p in expand(paths)? {
        if p.as_os_str() == "-" {
            sources.add("<stdin>".to_owned(), read_stdin()?);
            continue;
        }
        let text = read(&p)?;
        sources.add(p.display().to_string(), text);
    }
    Ok(sources)
}

/// Reads standard input (a policy, as UTF-8 text) with a clear error.
pub fn read_stdin() -> Result<String, String> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text)
        .map_err(|e| format!("cannot read standard input: {e} (policy files are UTF-8 text)"))?;
    Ok(text)
}

/// Reads a UTF-8 file with a clear error.
pub fn read(p: &Path) -> Result<String, String> {
    let bytes = std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{} is not UTF-8 (byte {}): policy files are UTF-8 text",
            p.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory, flushed and synced, then renamed over the target. On any error
/// the target is untouched and the temporary file is removed. `-` writes to
/// standard output.
///
/// Only a regular file (or a new one) is replaced by renaming. A path that
/// names something else (`/dev/null`, `/dev/stdout`, a FIFO) is opened and
/// written in place: renaming over it would put a regular file where a
/// device was. A symbolic link keeps pointing where it did: the file it
/// names is replaced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if path.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(bytes)
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write to standard output: {e}"));
    }
    let cannot = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(format!(
                "cannot write {}: it is a directory (name a file)",
                path.display()
            ));
        }
        Ok(m) if !m.is_file() => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(cannot)?;
            return f.write_all(bytes).and_then(|()| f.flush()).map_err(cannot);
        }
        _ => {}
    }
    let target = if path.is_symlink() {
        std::fs::canonicalize(path).map_err(cannot)?
    } else {
        path.to_path_buf()
    };
    let tmp = sibling(&target, "tmp");
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        cannot(e)
    })
}

/// A hidden name beside `path` for a temporary copy: `.NAME.KIND-PID`.
fn sibling(path: &Path, kind: &str) -> PathBuf {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    dir.join(format!(".{name}.{kind}-{}", std::process::id()))
}

/// Writes a directory of files (relative paths and their bytes) as a whole:
/// into a fresh sibling directory first, which is then renamed into place;
/// an earlier `dir` is moved aside and removed after. The output is never a
/// mix of two writes or a partial one. The caller decides beforehand whether
/// an existing `dir` may be replaced; anything but a directory is refused
/// here.
pub fn write_dir_atomic(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err(format!(
            "cannot write {}: it exists and is not a directory",
            dir.display()
        ));
    }
    let tmp = sibling(dir, "tmp");
    let old = sibling(dir, "old");
    let result = (|| -> std::io::Result<()> {
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        for (path, bytes) in files {
            let p = tmp.join(path);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d)?;
            }
            std::fs::write(&p, bytes)?;
        }
        if dir.exists() {
            std::fs::rename(dir, &old)?;
        }
        std::fs::rename(&tmp, dir)?;
        if old.exists() {
            std::fs::remove_dir_all(&old)?;
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        if old.exists() && !dir.exists() {
            let _ = std::fs::rename(&old, dir);
        }
        format!("cannot write {}: {e}", dir.display())
    })
}
