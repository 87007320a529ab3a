//! faultline's two images, Redis and Postgres, built locally from `docker/`.
//!
//! Images are tagged by a hash of their definitions (computed at build time of this
//! crate, see `build.rs`), so a build is skipped when the tag exists and redone only when
//! a definition changes. The heavy lifting is `docker/build-images.sh`: it uses
//! `debian:bookworm-slim` where a registry is reachable, and otherwise debootstraps a
//! bookworm rootfs from the machine's apt mirror and `docker import`s it.

use crate::docker::{self, DockerError};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use testcontainers::bollard::Docker;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The tag of the images this build of faultline uses.
pub const TAG: &str = env!("FAULTLINE_IMAGE_TAG");
/// The tag of the base image they are built on.
const BASE_TAG: &str = env!("FAULTLINE_BASE_TAG");
/// The Redis image's repository.
pub const REDIS: &str = "faultline/redis";
/// The Postgres image's repository.
pub const POSTGRES: &str = "faultline/postgres";

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

/// Fails with [`ImageError::Missing`] unless both images of this build are present.
pub async fn ensure_present(docker: &Docker) -> Result<(), ImageError> {
    for repository in [REDIS, POSTGRES] {
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
    /// Both images were already present.
    Present,
    /// They were built, taking this long.
    Built(Duration),
}

/// Builds both images unless they are present, passing each progress line of the build
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
