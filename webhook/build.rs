//! Embeds the demo policy (examples/policies) into the binary, so that `scopegate serve`
//! has something real to serve on a fresh machine with no policy of its own.

use std::fs;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect(&path, files)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            files.push(path);
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = Vec::new();
    collect(&dir, &mut files)?;
    let mut out = String::new();
    for file in files {
        println!("cargo:rerun-if-changed={}", file.display());
        out.push_str("---\n");
        out.push_str(&fs::read_to_string(&file)?);
        out.push('\n');
    }
    let target = PathBuf::from(std::env::var("OUT_DIR").map_err(std::io::Error::other)?)
        .join("demo-policy.yaml");
    fs::write(target, out)
}
