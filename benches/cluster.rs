//! Cluster benchmark: warm start (master + 2 replicas + Postgres, images present) and
//! teardown, median of 5; with `--cold`, also a cold image build (this version's images
//! and base are removed first, so it takes minutes).
//!
//! `cargo bench --bench cluster [-- --cold]`

use faultline::cluster::Cluster;
use faultline::{docker, images};
use std::time::{Duration, Instant};
use testcontainers::bollard::query_parameters::RemoveImageOptions;

const ROUNDS: usize = 5;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--cold") {
        cold_build().await?;
    }
    let (mut starts, mut teardowns) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        let started = Instant::now();
        let cluster = Cluster::builder().redis_replicas(2).postgres().start().await?;
        starts.push(started.elapsed());
        let started = Instant::now();
        cluster.teardown().await?;
        teardowns.push(started.elapsed());
        println!(
            "round {round}: start {:>6.2} s, teardown {:>5.2} s",
            secs(starts[round - 1]),
            secs(teardowns[round - 1])
        );
    }
    println!(
        "warm start (master + 2 replicas + postgres, all ready): median {:.2} s (target < 5 s)",
        secs(median(starts))
    );
    println!("teardown: median {:.2} s (target < 2 s)", secs(median(teardowns)));
    Ok(())
}

async fn cold_build() -> anyhow::Result<()> {
    let docker = docker::connect().await?;
    let listed = docker
        .list_images(None::<testcontainers::bollard::query_parameters::ListImagesOptions>)
        .await?;
    for tag in
        listed.iter().flat_map(|i| i.repo_tags.iter()).filter(|t| t.starts_with("faultline/"))
    {
        let force = RemoveImageOptions { force: true, ..Default::default() };
        docker.remove_image(tag, Some(force), None).await?;
    }
    let started = Instant::now();
    images::build(|line| println!("  {line}")).await?;
    println!(
        "cold image build (debootstrap + import + both images): {:.1} s",
        secs(started.elapsed())
    );
    Ok(())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
