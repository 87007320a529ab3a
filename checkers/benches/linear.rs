//! Linearizability benchmark: `checkers::linear::check` on Jepsen's etcd register logs
//! (Porcupine's test data, `etcd_000.log`..`etcd_102.log`), side by side with Porcupine.
//!
//! Run: `FAULTLINE_JEPSEN_DIR=<dir of *.log> cargo bench -p faultline-checkers --bench linear`.
//! With `FAULTLINE_PORCUPINE="<program> [args]"`, a program that takes the files as
//! arguments and prints `file<TAB>verdict<TAB>best_ns<TAB>median_ns` per file (verdict
//! `linearizable` or `not-linearizable`), it is run once with `GOMAXPROCS=1` (one core)
//! and once with the environment as it is (all cores), and each file's verdict and time
//! are compared; the bench exits 1 if any verdict differs. `FAULTLINE_BENCH_REPEATS`
//! (default 10) sets how many times each file is checked; the best time is reported.
//!
//! Times are the check only: the logs are read before the clock starts, on both sides.
//! On all cores we also check the files in parallel, one thread per core; each single-key
//! history is one search, sequential on both sides (Porcupine runs partitions in
//! parallel, and these logs have one).

use checkers::linear::{Budget, CasRegister, Outcome, RegOp, check, jepsen};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One file's figures from one side: the verdict and the best time.
#[derive(Clone)]
struct Timing {
    verdict: String,
    best: Duration,
}

fn main() {
    let Some(dir) = std::env::var_os("FAULTLINE_JEPSEN_DIR") else {
        println!(
            "FAULTLINE_JEPSEN_DIR is not set: nothing to benchmark.\n\
             The histories are Porcupine's test data (not in this repository): clone\n\
             github.com/anishathalye/porcupine and set FAULTLINE_JEPSEN_DIR to its\n\
             test_data/jepsen directory; optionally set FAULTLINE_PORCUPINE to a driver\n\
             program (see this bench's source) to compare with Porcupine."
        );
        return;
    };
    let repeats: usize = std::env::var("FAULTLINE_BENCH_REPEATS")
        .map(|r| r.parse().expect("FAULTLINE_BENCH_REPEATS is a number"))
        .unwrap_or(10)
        .max(1);
    let files = logs(Path::new(&dir));
    let histories: Vec<(PathBuf, Vec<RegOp>)> = files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("a readable log");
            let ops = jepsen::read_log(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.clone(), ops)
        })
        .collect();
    let ours: Vec<Timing> = histories.iter().map(|(_, ops)| time_check(ops, repeats)).collect();
    let driver = std::env::var("FAULTLINE_PORCUPINE").ok();
    let mut identical = true;
    for (title, one_core) in [("one core (GOMAXPROCS=1)", true), ("all cores", false)] {
        let theirs = driver.as_deref().map(|d| porcupine(d, &files, one_core));
        println!("\n== {title} ==");
        identical &= table(&histories, &ours, theirs.as_ref());
        if !one_core {
            let wall = parallel_wall(&histories, repeats);
            println!(
                "ours, files checked in parallel on {} threads: {} (wall)",
                threads(),
                ms(wall)
            );
        }
    }
    if driver.is_some() && !identical {
        eprintln!("verdicts differ from Porcupine's");
        std::process::exit(1);
    }
}

/// The `*.log` files of `dir`, sorted by name.
fn logs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

fn verdict(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Linearizable => "linearizable",
        Outcome::NotLinearizable { .. } => "not-linearizable",
        Outcome::Unknown(_) => "unknown",
    }
}

/// Checks `ops` once to warm up, then `repeats` times.
fn time_check(ops: &[RegOp], repeats: usize) -> Timing {
    let model = CasRegister::default();
    let first = check(&model, ops, Budget::UNLIMITED);
    let mut times: Vec<Duration> = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            let outcome = check(&model, std::hint::black_box(ops), Budget::UNLIMITED);
            let elapsed = start.elapsed();
            assert_eq!(outcome, first, "the same history, the same outcome");
            elapsed
        })
        .collect();
    times.sort();
    Timing { verdict: verdict(&first).into(), best: times[0] }
}

/// Runs the Porcupine driver on `files`, with `GOMAXPROCS=1` when `one_core`.
fn porcupine(driver: &str, files: &[PathBuf], one_core: bool) -> HashMap<PathBuf, Timing> {
    let mut words = driver.split_whitespace();
    let mut command = Command::new(words.next().expect("FAULTLINE_PORCUPINE names a program"));
    command.args(words).args(files);
    if one_core {
        command.env("GOMAXPROCS", "1");
    } else {
        command.env_remove("GOMAXPROCS");
    }
    let output = command.output().unwrap_or_else(|e| panic!("{driver}: {e}"));
    assert!(
        output.status.success(),
        "{driver} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("the driver prints text")
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let [file, verdict, best, _median] = f[..] else {
                panic!("{driver} printed {line:?}: expected file, verdict, best_ns, median_ns");
            };
            let ns = |s: &str| Duration::from_nanos(s.parse().expect("nanoseconds"));
            (PathBuf::from(file), Timing { verdict: verdict.into(), best: ns(best) })
        })
        .collect()
}

/// Prints one row per file, then totals; returns whether every verdict is Porcupine's.
fn table(
    histories: &[(PathBuf, Vec<RegOp>)],
    ours: &[Timing],
    theirs: Option<&HashMap<PathBuf, Timing>>,
) -> bool {
    println!(
        "{:<16} {:>5} {:<17} {:<17} {:>11} {:>11} {:>7}",
        "file", "ops", "ours", "porcupine", "ours", "porcupine", "ratio"
    );
    let (mut total_ours, mut total_theirs) = (Duration::ZERO, Duration::ZERO);
    let (mut identical, mut worst) = (true, (0.0f64, String::new()));
    for ((path, ops), us) in histories.iter().zip(ours) {
        let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        total_ours += us.best;
        let them = theirs.map(|t| t.get(path).unwrap_or_else(|| panic!("no line for {name}")));
        let (their_verdict, their_time, ratio) = match them {
            Some(t) => {
                total_theirs += t.best;
                identical &= t.verdict == us.verdict;
                let ratio = us.best.as_secs_f64() / t.best.as_secs_f64().max(1e-9);
                if ratio > worst.0 {
                    worst = (ratio, name.clone());
                }
                (t.verdict.as_str(), ms(t.best), format!("{ratio:.3}"))
            }
            None => ("-", "-".into(), "-".into()),
        };
        let mark = if them.is_some_and(|t| t.verdict != us.verdict) { "  DIFFERS" } else { "" };
        println!(
            "{name:<16} {:>5} {:<17} {their_verdict:<17} {:>11} {their_time:>11} {ratio:>7}{mark}",
            ops.len(),
            us.verdict,
            ms(us.best),
        );
    }
    println!("total: ours {}", ms(total_ours));
    if theirs.is_some() {
        println!(
            "total: porcupine {}; ours / porcupine = {:.3}",
            ms(total_theirs),
            total_ours.as_secs_f64() / total_theirs.as_secs_f64().max(1e-9)
        );
        println!("worst per-file ratio: {:.3} ({})", worst.0, worst.1);
        println!("verdicts identical: {}", if identical { "yes" } else { "NO" });
    }
    identical
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The best of `repeats` wall times to check every history, files shared among threads.
fn parallel_wall(histories: &[(PathBuf, Vec<RegOp>)], repeats: usize) -> Duration {
    let model = CasRegister::default();
    (0..repeats)
        .map(|_| {
            let next = std::sync::atomic::AtomicUsize::new(0);
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..threads() {
                    s.spawn(|| {
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some((_, ops)) = histories.get(i) else { break };
                            std::hint::black_box(check(&model, ops, Budget::UNLIMITED));
                        }
                    });
                }
            });
            start.elapsed()
        })
        .min()
        .expect("at least one repeat")
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}
