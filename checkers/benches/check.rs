//! End-to-end benchmark: a simulated billing history (1,000 accounts, 64 processes, 1%
//! info) written to a temporary file, then checked from that file, JSON parsing
//! included. Prints operations per second and the check's peak memory (VmHWM, reset
//! before each check), for a 1-million and a 10-million-operation history, so memory
//! can be compared across lengths.
//!
//! Run: `cargo bench -p faultline-checkers --bench check`.
//! Other lengths: `FAULTLINE_BENCH_OPS=2000000,20000000 cargo bench ...`; an existing
//! history: `FAULTLINE_BENCH_FILE=history.jsonl`; keep the generated files:
//! `FAULTLINE_BENCH_KEEP=1`.

use checkers::format::write_op;
use checkers::sim::{Sim, SimConfig};
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn main() {
    if let Some(path) = std::env::var_os("FAULTLINE_BENCH_FILE") {
        let path = PathBuf::from(path);
        let bytes = fs::metadata(&path).expect("the history to check").len();
        return check(&path, None, bytes);
    }
    let lengths =
        std::env::var("FAULTLINE_BENCH_OPS").unwrap_or_else(|_| "1000000,10000000".into());
    for ops in lengths.split(',').map(|n| n.trim().parse::<u64>().expect("a number of operations"))
    {
        let path = std::env::temp_dir()
            .join(format!("faultline-bench-{}-{ops}.jsonl", std::process::id()));
        let (written, bytes, seconds) = generate(&path, ops);
        println!(
            "generated {written} operations ({:.0} MB) in {seconds:.1} s: {}",
            bytes as f64 / 1e6,
            path.display()
        );
        check(&path, Some(written), bytes);
        if std::env::var_os("FAULTLINE_BENCH_KEEP").is_none() {
            fs::remove_file(&path).expect("the temporary history can be removed");
        }
    }
}

fn config(ops: u64) -> SimConfig {
    SimConfig {
        seed: 2013,
        accounts: 1000,
        processes: 64,
        ops,
        info_rate: 0.01,
        ..SimConfig::default()
    }
}

fn generate(path: &PathBuf, ops: u64) -> (u64, u64, f64) {
    let start = Instant::now();
    let sim = Sim::new(config(ops));
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).expect("a temporary file"));
    let mut line = serde_json::to_vec(&sim.header()).expect("a header serialises");
    line.push(b'\n');
    let (mut written, mut bytes) = (0, line.len() as u64);
    out.write_all(&line).expect("the temporary file is writable");
    for op in sim {
        line.clear();
        write_op(&op, &mut line);
        out.write_all(&line).expect("the temporary file is writable");
        written += 1;
        bytes += line.len() as u64;
    }
    out.flush().expect("the temporary file is writable");
    (written, bytes, start.elapsed().as_secs_f64())
}

fn check(path: &Path, ops: Option<u64>, bytes: u64) {
    reset_peak_memory();
    let (start, cpu_start) = (Instant::now(), cpu_time());
    let input = BufReader::with_capacity(1 << 20, File::open(path).expect("the history we wrote"));
    let report = checkers::check(input).expect("the history reads back");
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_time().zip(cpu_start).map(|(end, start)| end - start);
    assert!(ops.is_none_or(|ops| ops == report.ops));
    let ops = report.ops;
    println!(
        "checked {ops} operations in {seconds:.2} s: {:.2} M ops/s, {:.0} MB/s, verdict {}, peak memory {}",
        ops as f64 / seconds / 1e6,
        bytes as f64 / seconds / 1e6,
        report.validity(),
        peak_memory().unwrap_or_else(|| "unknown (no /proc/self/status)".into()),
    );
    if let Some(cpu) = cpu {
        println!("  on-CPU time {cpu:.2} s: {:.2} M ops/s per core", ops as f64 / cpu / 1e6);
    }
}

/// Seconds this thread has spent on a CPU (Linux `schedstat`): unlike wall time, not
/// inflated when other processes share the cores.
fn cpu_time() -> Option<f64> {
    let stat = fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(stat.split_whitespace().next()?.parse::<f64>().ok()? / 1e9)
}

/// Resets VmHWM to the current resident size (Linux: `5` to `/proc/self/clear_refs`).
fn reset_peak_memory() {
    let _ = fs::write("/proc/self/clear_refs", "5");
}

fn peak_memory() -> Option<String> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.trim_start_matches("VmHWM:").trim().to_owned())
}
