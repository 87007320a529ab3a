//! faultline's images, Redis, Postgres and the host of `faultline hosts up`, built locally
//! from `docker/`; and the
//! images of container services (`[sut] build = "dir"`), built from the user's
//! directory through the Docker API.
//!
//! Images are tagged by a hash of their definitions (computed at build time of this
//! crate, see `build.rs`), so a build is skipped when the tag exists and redone only when
//! a definition changes. The heavy lifting is `docker/build-images.sh`: it uses
//! `debian:bookworm-slim` where a registry is reachable, and otherwise debootstraps a
//! bookworm rootfs from the machine's apt mirror and `docker import`s it.

use crate::docker::{self, DockerError};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use testcontainers::bollard::Docker;
use testcontainers::bollard::body_full;
use testcontainers::bollard::query_parameters::BuildImageOptions;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The tag of the images this build of faultline uses.
pub const TAG: &str = env!("FAULTLINE_IMAGE_TAG");
/// The tag of the base image they are built on.
const BASE_TAG: &str = env!("FAULTLINE_BASE_TAG");
/// The base image's repository.
pub const BASE: &str = "faultline/base";
/// The repository prefix of images built for container services.
pub const SERVICE: &str = "faultline-service";
/// The Redis image's repository.
pub const REDIS: &str = "faultline/redis";
/// The Postgres image's repository.
pub const POSTGRES: &str = "faultline/postgres";
/// The repository of the host image: sshd, Redis and Postgres, nothing started but sshd
/// (the containers of [`crate::hosts::fleet`]).
pub const HOST: &str = "faultline/host";

/// Errors preparing images.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The engine could not be reached or refused a request.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// An image this build needs is not present.
    #[error(
        "image {0} is not built: run `faultline images build` (a cold build takes about two minutes)"
    )]
    Missing(String),
    /// The build script failed.
    #[error("building images failed ({status}); its output is above")]
    BuildFailed {
        /// How the script exited.
        status: String,
    },
    /// A container service's image is not on this machine.
    #[error(
        "the service's image {0} is not on this machine: build it (or `docker pull` it) first; \
         faultline never pulls an image"
    )]
    ServiceMissing(String),
    /// A container service's directory could not be read.
    #[error("cannot read the service's build directory {dir}: {source}")]
    ServiceDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A container service's image did not build.
    #[error(
        "building the service's image from {dir} failed: {error}; the end of the build:\n{tail}"
    )]
    ServiceBuild {
        /// The directory.
        dir: PathBuf,
        /// What Docker said.
        error: String,
        /// The build's last lines.
        tail: String,
    },
    /// The build script could not be started.
    #[error("cannot run {script}: {source}")]
    Script {
        /// The script's path.
        script: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// `repository:tag` of an image of this build.
pub fn reference(repository: &str) -> String {
    format!("{repository}:{TAG}")
}

/// `repository:tag` of the base image faultline's images are built on (Debian bookworm
/// with faultline's packages): a service's Dockerfile may build on it (`ARG
/// FAULTLINE_BASE`, `FROM ${FAULTLINE_BASE}`).
pub fn base_reference() -> String {
    format!("{BASE}:{BASE_TAG}")
}

/// Fails with [`ImageError::Missing`] unless every image of this build is present.
pub async fn ensure_present(docker: &Docker) -> Result<(), ImageError> {
    for repository in [REDIS, POSTGRES, HOST] {
        let image = reference(repository);
        if docker.inspect_image(&image).await.is_err() {
            return Err(ImageError::Missing(image));
        }
    }
    Ok(())
}

/// What [`build`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Built {
    /// Every image was already present.
    Present,
    /// They were built, taking this long.
    Built(Duration),
}

/// Builds the images unless they are all present, passing each progress line of the build
/// to `progress`.
pub async fn build(mut progress: impl FnMut(&str)) -> Result<Built, ImageError> {
    let docker = docker::connect().await?;
    if ensure_present(&docker).await.is_ok() {
        return Ok(Built::Present);
    }
    let script = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/docker/build-images.sh"));
    let started = Instant::now();
    let mut child = tokio::process::Command::new("bash")
        .arg(&script)
        .arg(TAG)
        .arg(BASE_TAG)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ImageError::Script { script: script.clone(), source })?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        progress(&line);
    }
    let status = child.wait().await.map_err(|source| ImageError::Script { script, source })?;
    if !status.success() {
        return Err(ImageError::BuildFailed { status: status.to_string() });
    }
    ensure_present(&docker).await?;
    Ok(Built::Built(started.elapsed()))
}

/// Fails with [`ImageError::ServiceMissing`] unless `image` is on this machine.
pub async fn ensure_service_image(docker: &Docker, image: &str) -> Result<(), ImageError> {
    match docker.inspect_image(image).await {
        Ok(_) => Ok(()),
        Err(_) => Err(ImageError::ServiceMissing(image.to_string())),
    }
}

/// The image of the container service whose Dockerfile is in `dir`, built unless an
/// image of the same contents is present; each line of the build goes to `progress`.
///
/// The build context is `dir` without hidden entries (`.venv`, `.git`) or
/// `__pycache__`; the image is tagged `faultline-service/<dir's name>:<hash>`, the hash
/// covering that context and the base image's tag, so a change rebuilds it and nothing
/// else does. The build is handed, as build arguments, `FAULTLINE_BASE` (faultline's
/// base image, [`base_reference`]) and `FAULTLINE_APT_MIRROR` /
/// `FAULTLINE_APT_SECURITY_MIRROR`, the Debian mirrors of this machine's apt sources
/// (empty when it has none), so a Dockerfile installs packages from where this machine
/// does. Nothing is pulled: a `FROM` image must be on this machine.
pub async fn service_image(
    dir: &Path,
    mut progress: impl FnMut(&str),
) -> Result<String, ImageError> {
    let read_error = |source| ImageError::ServiceDir { dir: dir.to_path_buf(), source };
    let mut files = Vec::new();
    context_files(dir, Path::new(""), &mut files).map_err(read_error)?;
    files.sort();
    let mut hash = Sha256::new();
    hash.update(BASE_TAG.as_bytes());
    let mut archive = tar::Builder::new(Vec::new());
    for relative in &files {
        let path = dir.join(relative);
        let bytes = std::fs::read(&path).map_err(read_error)?;
        hash.update(relative.to_string_lossy().as_bytes());
        hash.update([0]);
        hash.update(&bytes);
        hash.update([0]);
        archive.append_path_with_name(&path, relative).map_err(read_error)?;
    }
    let context = archive.into_inner().map_err(read_error)?;
    let tag: String = hash.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect();
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let name: String = absolute
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("service")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    let image = format!("{SERVICE}/{name}:{tag}");
    let docker = docker::connect().await?;
    if docker.inspect_image(&image).await.is_ok() {
        return Ok(image);
    }
    if docker.inspect_image(&base_reference()).await.is_err() {
        return Err(ImageError::Missing(base_reference()));
    }
    let started = Instant::now();
    let buildargs = HashMap::from([
        ("FAULTLINE_BASE".to_string(), base_reference()),
        ("FAULTLINE_APT_MIRROR".to_string(), apt_mirror("bookworm").unwrap_or_default()),
        (
            "FAULTLINE_APT_SECURITY_MIRROR".to_string(),
            apt_mirror("bookworm-security").unwrap_or_default(),
        ),
    ]);
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".to_string(),
        t: Some(image.clone()),
        rm: true,
        forcerm: true,
        buildargs: Some(buildargs),
        labels: Some(HashMap::from([("faultline.definition".to_string(), tag.clone())])),
        ..Default::default()
    };
    let mut stream = docker.build_image(options, None, Some(body_full(context.into())));
    let mut lines: Vec<String> = Vec::new();
    let mut failure = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(text) = info.stream {
                    for line in text.lines().filter(|l| !l.trim().is_empty()) {
                        progress(line);
                        lines.push(line.to_string());
                    }
                }
                if let Some(error) = info.error_detail.and_then(|d| d.message) {
                    failure = Some(error);
                }
            }
            Err(e) => failure = Some(e.to_string()),
        }
    }
    if let Some(error) = failure {
        let start = lines.len().saturating_sub(20);
        return Err(ImageError::ServiceBuild {
            dir: dir.to_path_buf(),
            error,
            tail: lines[start..].join("\n"),
        });
    }
    progress(&format!("built {image} in {:.0} s", started.elapsed().as_secs_f64()));
    Ok(image)
}

/// The files of a build context under `dir`: hidden entries and `__pycache__` left out.
fn context_files(root: &Path, relative: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(root.join(relative))? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "__pycache__" {
            continue;
        }
        let path = relative.join(&*name);
        if entry.file_type()?.is_dir() {
            context_files(root, &path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// The URI of this machine's apt source for Debian `suite`, read from the deb822
/// `.sources` files, then the one-line `.list` files, as `docker/build-images.sh` reads
/// it.
fn apt_mirror(suite: &str) -> Option<String> {
    let dir = Path::new("/etc/apt/sources.list.d");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    sources.sort();
    for path in sources.iter().filter(|p| p.extension().is_some_and(|e| e == "sources")) {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(uri) = deb822_uri(&text, suite) {
            return Some(uri);
        }
    }
    let lists = std::iter::once(PathBuf::from("/etc/apt/sources.list"))
        .chain(sources.into_iter().filter(|p| p.extension().is_some_and(|e| e == "list")));
    for path in lists {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["deb", uri, s, ..] = words[..]
                && s == suite
            {
                return Some(uri.to_string());
            }
        }
    }
    None
}

/// The first URI of a deb822 stanza in `text` whose `Suites` include `suite`.
fn deb822_uri(text: &str, suite: &str) -> Option<String> {
    text.split("\n\n").find_map(|stanza| {
        let field = |name: &str| {
            stanza.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string())
        };
        let suites = field("Suites:")?;
        let uri = field("URIs:")?;
        let uri = uri.split_whitespace().next()?.to_string();
        suites.split_whitespace().any(|s| s == suite).then_some(uri)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mirror_of_a_suite_is_read_from_deb822_stanzas() {
        let text = "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n\n\
                    Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n";
        assert_eq!(deb822_uri(text, "bookworm").as_deref(), Some("http://mirror.example/debian"));
        assert_eq!(
            deb822_uri(text, "bookworm-security").as_deref(),
            Some("http://mirror.example/debian-security")
        );
        assert_eq!(deb822_uri(text, "trixie"), None);
    }
}
