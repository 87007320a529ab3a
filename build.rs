//! Tags faultline's images by a hash of their definitions in `docker/`, so that a
//! changed definition means a new image and an unchanged one is never rebuilt. The base
//! image (the slow part: a debootstrapped rootfs) has its own tag, a hash of `base/` and
//! the build script only, so changing the Redis or Postgres layer reuses it.

use sha2::{Digest, Sha256};
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = Vec::new();
    collect(&dir, &mut files);
    files.sort();
    let relative: Vec<_> =
        files.iter().map(|f| f.strip_prefix(&dir).expect("under docker/")).collect();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let base = relative.iter().filter(|r| r.starts_with("base") || r.ends_with("build-images.sh"));
    println!("cargo:rustc-env=FAULTLINE_BASE_TAG={}", tag(&dir, base));
    println!("cargo:rustc-env=FAULTLINE_IMAGE_TAG={}", tag(&dir, relative.iter()));
}

fn tag<'a>(dir: &Path, files: impl Iterator<Item = &'a &'a Path>) -> String {
    let mut hash = Sha256::new();
    for relative in files {
        hash.update(relative.to_string_lossy().as_bytes());
        hash.update([0]);
        hash.update(std::fs::read(dir.join(relative)).expect("readable definition"));
        hash.update([0]);
    }
    hash.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("docker/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}
