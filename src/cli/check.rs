//! `faultline check`: a stored history checked again, offline. With `--model`, any
//! register history (faultline's JSON lines, Jepsen's EDN or text log) checked for
//! linearizability, per key.

use anyhow::Context;
use checkers::linear::formats::{self, Format, Lines, RegHistory};
use checkers::linear::{
    Budget, CasRegister, KeyValue, Model, Outcome, RegInput, RegOutput, Register, check_per_key,
    key_value,
};
use faultline::report;
use faultline::store::{self, RunDir};
use std::fmt::Write;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `faultline check` options.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// A run directory (holding history.jsonl) or a history file; with `--model`, also a
    /// Jepsen EDN history or a Jepsen text log.
    path: PathBuf,
    /// Check linearizability against this model, per key, instead of running the
    /// workload's checkers (`key-value`: the whole history as one map, and per key).
    #[arg(long, value_enum)]
    model: Option<ModelName>,
    /// With `--model`: the most search steps per check before the verdict is unknown.
    #[arg(long, requires = "model")]
    max_steps: Option<u64>,
    /// With `--model`: the most memoised search states per check before the verdict is
    /// unknown.
    #[arg(long, requires = "model")]
    max_states: Option<usize>,
    /// With `--model`: the most MiB the memoised states may take per check before the
    /// verdict is unknown (default 1024).
    #[arg(long, requires = "model")]
    max_memory_mib: Option<usize>,
}

/// The sequential specification a history is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ModelName {
    /// A register per key: read, write, compare-and-set.
    CasRegister,
    /// A register per key: read and write only (a cas cannot be placed).
    Register,
    /// One map of every key (then each key as a cas-register, which must agree).
    KeyValue,
}

/// Runs `faultline check`.
pub fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let Some(model) = args.model else {
        return check_suite(&args.path);
    };
    let default = Budget::default();
    let budget = Budget {
        max_steps: args.max_steps.unwrap_or(default.max_steps),
        max_states: args.max_states.unwrap_or(default.max_states),
        max_memory: args.max_memory_mib.map_or(default.max_memory, |m| m.saturating_mul(1 << 20)),
    };
    check_linear(&args.path, model, budget)
}

/// The history file of `path`: itself, or a run directory's history.
fn history_file(path: &Path) -> PathBuf {
    match path.is_dir() {
        true => RunDir::open(path).file(store::HISTORY),
        false => path.to_path_buf(),
    }
}

fn check_suite(path: &Path) -> anyhow::Result<ExitCode> {
    let run = path.is_dir().then(|| RunDir::open(path));
    let history = history_file(path);
    let file =
        File::open(&history).with_context(|| format!("cannot open {}", history.display()))?;
    let report = checkers::check(BufReader::new(file))
        .with_context(|| format!("in {}", history.display()))?;
    print!("{report}");
    if let Some(run) = run {
        report::write_all(&run, &report)
            .with_context(|| format!("writing results into {}", run.path().display()))?;
        println!("\nwrote {}/report.html", run.path().display());
    }
    Ok(ExitCode::from(report.exit_code() as u8))
}

fn check_linear(path: &Path, model: ModelName, budget: Budget) -> anyhow::Result<ExitCode> {
    let file = history_file(path);
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let (format, history) =
        formats::read(&text).with_context(|| format!("in {}", file.display()))?;
    anyhow::ensure!(
        !history.ops.is_empty(),
        "{} holds no register operations to check: expected a client's read, write or cas \
         that did not fail",
        file.display()
    );
    let keys = checkers::linear::partition(&history.ops).len();
    println!(
        "{}: {}, {} on {keys} {}; model {}",
        file.display(),
        format_name(format),
        operations(history.ops.len()),
        if keys == 1 { "key" } else { "keys" },
        model_name(model),
    );
    let verdict = match model {
        ModelName::CasRegister => per_key(&CasRegister::default(), &history, budget),
        ModelName::Register => per_key(&Register::default(), &history, budget),
        ModelName::KeyValue => whole_and_per_key(&history, budget)?,
    };
    println!("{}", verdict.line());
    Ok(ExitCode::from(verdict.exit_code()))
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Jsonl => "faultline history",
        Format::Edn => "Jepsen EDN history",
        Format::JepsenLog => "Jepsen log",
    }
}

fn model_name(model: ModelName) -> &'static str {
    match model {
        ModelName::CasRegister => "cas-register",
        ModelName::Register => "register",
        ModelName::KeyValue => "key-value",
    }
}

/// The overall verdict: how many keys ended each way.
#[derive(Default)]
struct Verdict {
    keys: usize,
    not_linearizable: usize,
    unknown: usize,
}

impl Verdict {
    fn add(&mut self, outcome: &Outcome) {
        self.keys += 1;
        match outcome {
            Outcome::Linearizable => {}
            Outcome::NotLinearizable { .. } => self.not_linearizable += 1,
            Outcome::Unknown(_) => self.unknown += 1,
        }
    }

    fn line(&self) -> String {
        let Verdict { keys, not_linearizable, unknown } = *self;
        match (not_linearizable, unknown) {
            (0, 0) if keys == 1 => "linearizable".to_owned(),
            (0, 0) => format!("linearizable: all {keys} keys"),
            (0, _) if keys == 1 => "unknown".to_owned(),
            (0, u) => format!("unknown: {u} of {keys} keys undecided, the others linearizable"),
            (_, 0) if keys == 1 => "not linearizable".to_owned(),
            (n, 0) => format!("not linearizable: {n} of {keys} keys"),
            (n, u) => format!("not linearizable: {n} of {keys} keys ({u} undecided)"),
        }
    }

    /// As the README's exit codes: 0 valid, 1 invalid, 2 unknown.
    fn exit_code(&self) -> u8 {
        match (self.not_linearizable, self.unknown) {
            (0, 0) => 0,
            (0, _) => 2,
            _ => 1,
        }
    }
}

fn per_key<M: Model<Input = RegInput, Output = RegOutput>>(
    model: &M,
    history: &RegHistory,
    budget: Budget,
) -> Verdict {
    let mut verdict = Verdict::default();
    for (key, outcome) in check_per_key(model, &history.ops, budget) {
        let ops = history.ops.iter().filter(|(k, _)| *k == key).count();
        print!("{}", explain(&format!("key {key}"), ops, &outcome, history, false));
        verdict.add(&outcome);
    }
    verdict
}

/// The whole history as one map, then per key; both must agree.
fn whole_and_per_key(history: &RegHistory, budget: Budget) -> anyhow::Result<Verdict> {
    let whole = checkers::linear::check(&KeyValue::default(), &key_value(&history.ops), budget);
    print!("{}", explain("the whole map", history.ops.len(), &whole, history, true));
    let verdict = per_key(&CasRegister::default(), history, budget);
    let every_key = verdict.not_linearizable == 0 && verdict.unknown == 0;
    let disagree = match whole {
        Outcome::Linearizable => verdict.not_linearizable > 0,
        Outcome::NotLinearizable { .. } => every_key,
        Outcome::Unknown(_) => false,
    };
    anyhow::ensure!(
        !disagree,
        "the whole map is {} but its keys are {}: linearizability is per key, so this is a \
         bug in faultline's checker",
        outcome_word(&whole),
        if every_key { "all linearizable" } else { "not all linearizable" }
    );
    // The whole map decides when the keys could not, and the other way round.
    Ok(match whole {
        Outcome::NotLinearizable { .. } if verdict.not_linearizable == 0 => {
            Verdict { keys: verdict.keys, not_linearizable: 1, unknown: verdict.unknown - 1 }
        }
        _ => verdict,
    })
}

fn outcome_word(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Linearizable => "linearizable",
        Outcome::NotLinearizable { .. } => "not linearizable",
        Outcome::Unknown(_) => "unknown",
    }
}

/// Operations shown before the one that cannot be placed.
const SHOWN: usize = 20;

/// One object's verdict, and for a non-linearizable one the evidence.
fn explain(
    what: &str,
    ops: usize,
    outcome: &Outcome,
    history: &RegHistory,
    with_keys: bool,
) -> String {
    let mut out = String::new();
    let Outcome::NotLinearizable { longest_prefix, stuck } = outcome else {
        let _ = writeln!(out, "{what}: {outcome} ({})", operations(ops));
        return out;
    };
    let _ = writeln!(out, "{what}: NOT linearizable ({})", operations(ops));
    let skipped = longest_prefix.len().saturating_sub(SHOWN);
    let _ = write!(out, "  the longest linearizable prefix: {}", operations(longest_prefix.len()));
    if skipped > 0 {
        let _ = write!(out, " (the first {skipped} not shown)");
    }
    out.push('\n');
    for &i in &longest_prefix[skipped..] {
        let _ = writeln!(out, "    {}", describe(history, i, with_keys));
    }
    let (key, _) = &history.ops[*stuck];
    let held = held_after(history, longest_prefix, key).map_or("nil".to_owned(), |v| v.to_string());
    let _ = writeln!(
        out,
        "  cannot be placed after it (key {key} then holds {held}):\n    {}",
        describe(history, *stuck, with_keys)
    );
    out
}

fn operations(n: usize) -> String {
    format!("{n} operation{}", if n == 1 { "" } else { "s" })
}

/// What `key` holds after the operations of `prefix`, run in that order.
fn held_after(history: &RegHistory, prefix: &[usize], key: &String) -> Option<i64> {
    let ops: Vec<_> = prefix.iter().map(|&i| history.ops[i].clone()).collect();
    let model = KeyValue::default();
    let mut state = model.init();
    for op in key_value(&ops) {
        state = model.step(&state, &op.input, op.output.as_ref())?;
    }
    state.get(key).copied()
}

/// `p3 write 4`, `p1 read -> 2`, `p0 cas 1 2 -> failed`, with the operation's lines.
fn describe(history: &RegHistory, i: usize, with_key: bool) -> String {
    let (key, op) = &history.ops[i];
    let mut s = format!("p{} {}", op.client, formats::name(&op.input));
    match op.input {
        RegInput::Read => {}
        RegInput::Write(v) => {
            let _ = write!(s, " {v}");
        }
        RegInput::Cas { expect, new } => {
            let _ = write!(s, " {expect} {new}");
        }
    }
    if with_key {
        let _ = write!(s, " on key {key}");
    }
    match (op.input, op.output) {
        (_, None) => s.push_str(" -> ?"),
        (_, Some(RegOutput::Value(v))) => {
            let _ = write!(s, " -> {}", v.map_or("nil".to_owned(), |v| v.to_string()));
        }
        (RegInput::Cas { .. }, Some(RegOutput::Ok)) => s.push_str(" -> ok"),
        (_, Some(RegOutput::Ok)) => {}
        (_, Some(RegOutput::Failed)) => s.push_str(" -> failed"),
    }
    let _ = write!(s, "  ({})", lines(history.lines[i]));
    s
}

fn lines(lines: Lines) -> String {
    match lines.ret {
        Some(ret) => format!("lines {}, {ret}", lines.call),
        None => format!("line {}, never completed", lines.call),
    }
}
