//! faultline: Jepsen-style fault injection for money-moving systems built on Redis and
//! Postgres.
//!
//! - [`images`]: the Redis and Postgres images, built locally and tagged by content.
//! - [`docker`]: the Docker engine beyond testcontainers: exec, logs, the label sweep.
//! - [`cluster`]: a live cluster in containers, and node control.
#![deny(missing_docs)]

pub mod cluster;
pub mod docker;
pub mod images;
