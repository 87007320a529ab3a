//! `faultline check --model`: register histories in each format read from files, checked
//! per key, with the evidence and exit code the README promises. No Docker needed.

use std::path::PathBuf;
use std::process::{Command, Output};

/// A directory of this test's own, removed when the test passes.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir()
            .join(format!("faultline-check-model-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Runs `faultline check --model MODEL FILE EXTRA...`: exit code, stdout and stderr.
fn check(model: &str, file: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let Output { status, stdout, stderr } = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["check", "--model", model, file])
        .args(extra)
        .output()
        .unwrap();
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (status.code(), text(stdout), text(stderr))
}

/// Process 2 reads 1 after writes of 1 then 2 both completed: a stale read.
const STALE_EDN: &str = "\
{:type :invoke, :f :write, :value 1, :process 0, :time 10, :index 0}
{:type :ok, :f :write, :value 1, :process 0, :time 20, :index 1}
{:type :info, :f :start, :value nil, :process :nemesis, :time 25, :index 2}
{:type :invoke, :f :write, :value 2, :process 1, :time 30, :index 3}
{:type :ok, :f :write, :value 2, :process 1, :time 40, :index 4}
{:type :invoke, :f :read, :value nil, :process 2, :time 50, :index 5}
{:type :ok, :f :read, :value 1, :process 2, :time 60, :index 6}
";

#[test]
fn a_stale_read_in_an_edn_history_is_shown_after_the_longest_linearizable_prefix() {
    let dir = Dir::new("edn");
    let file = dir.file("stale.edn", STALE_EDN);
    for model in ["cas-register", "register", "key-value"] {
        let (code, out, err) = check(model, &file, &[]);
        assert_eq!(code, Some(1), "{model}: {out}{err}");
        let evidence = "  the longest linearizable prefix: 2 operations\n    p0 write 1  (lines 1, 2)\n    p1 write 2  (lines 4, 5)\n  cannot be placed after it (key register then holds 2):\n    p2 read -> 1  (lines 6, 7)\n";
        assert!(
            out.contains(&format!("key register: NOT linearizable (3 operations)\n{evidence}")),
            "{model}: {out}"
        );
        assert!(out.ends_with("\nnot linearizable\n"), "{model}: {out}");
    }
    // Reading 2 instead is fine; so is reading 1 had the second write crashed.
    let fresh = dir.file(
        "fresh.edn",
        &STALE_EDN.replace(":ok, :f :read, :value 1", ":ok, :f :read, :value 2"),
    );
    let crashed = dir.file(
        "crashed.edn",
        &STALE_EDN.replace(":ok, :f :write, :value 2", ":info, :f :write, :value 2"),
    );
    for file in [fresh, crashed] {
        let (code, out, err) = check("cas-register", &file, &[]);
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.contains("key register: linearizable (3 operations)\n"), "{out}");
    }
}

#[test]
fn a_faultline_history_is_checked_per_key_and_as_one_map() {
    let dir = Dir::new("jsonl");
    let ops = [
        r#""process":0,"type":"invoke","f":"write","value":{"key":3,"value":5}"#,
        r#""process":0,"type":"ok","f":"write","value":{"key":3,"value":5}"#,
        r#""process":1,"type":"invoke","f":"cas","value":{"key":4,"cas":[1,2]}"#,
        r#""process":1,"type":"fail","f":"cas","value":{"key":4,"cas":[1,2]},"error":"mismatch""#,
        r#""process":1,"type":"invoke","f":"write","value":{"key":4,"value":1}"#,
        r#""process":1,"type":"ok","f":"write","value":{"key":4,"value":1}"#,
        r#""process":2,"type":"invoke","f":"cas","value":{"key":4,"cas":[1,2]}"#,
        r#""process":2,"type":"fail","f":"cas","value":{"key":4,"cas":[1,2]},"error":"mismatch""#,
        r#""process":0,"type":"invoke","f":"read","value":{"key":3}"#,
        r#""process":0,"type":"ok","f":"read","value":{"key":3,"value":5}"#,
    ];
    let mut text = "{\"schema\":\"faultline.history/1\",\"workload\":\"register\"}\n".to_owned();
    for (i, op) in ops.iter().enumerate() {
        text.push_str(&format!("{{\"index\":{i},\"time\":{i},{op}}}\n"));
    }
    let file = dir.file("history.jsonl", &text);
    let (code, out, err) = check("cas-register", &file, &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("faultline history, 5 operations on 2 keys; model cas-register\n"),
        "{out}"
    );
    assert!(out.contains("key 3: linearizable (2 operations)\n"), "{out}");
    // The first cas rightly failed on an empty register; the second, after 1 was written, did not.
    assert!(out.contains("key 4: NOT linearizable (3 operations)\n"), "{out}");
    assert!(out.contains("cannot be placed after it (key 4 then holds 1):\n    p2 cas 1 2 -> failed  (lines 8, 9)\n"), "{out}");
    assert!(out.ends_with("\nnot linearizable: 1 of 2 keys\n"), "{out}");

    let (code, out, err) = check("key-value", &file, &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("the whole map: NOT linearizable (5 operations)\n"), "{out}");
    assert!(out.contains("    p2 cas 1 2 on key 4 -> failed  (lines 8, 9)\n"), "{out}");
    assert!(out.contains("key 3: linearizable (2 operations)\n"), "{out}");

    // A cas is not a plain register's operation.
    let (code, out, _) = check("register", &file, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("cannot be placed after it (key 4 then holds nil):\n    p1 cas 1 2 -> failed  (lines 4, 5)\n"), "{out}");
}

#[test]
fn jepsen_text_logs_are_read_space_or_tab_separated() {
    let dir = Dir::new("jepsen");
    let spaces = "\
INFO  jepsen.core - Running test
INFO  jepsen.util - 0 :invoke :write 1
INFO  jepsen.util - 1 :invoke :read nil
INFO  jepsen.util - 0 :ok :write 1
INFO  jepsen.util - 2 :invoke :cas [1 4]
INFO  jepsen.util - 1 :ok :read nil
INFO  jepsen.util - 2 :ok :cas [1 4]
INFO  jepsen.util - 1 :invoke :read nil
INFO  jepsen.util - 1 :ok :read 4
";
    let (code, out, err) = check("cas-register", &dir.file("spaces.log", spaces), &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(out.lines().nth(1), Some("key register: linearizable (4 operations)"), "{out}");
    // The same with tabs between the fields, the last read now stale.
    let tabs: String = spaces
        .replace(":ok :read 4", ":ok :read 1")
        .lines()
        .map(|l| match l.split_once("jepsen.util - ") {
            Some((logger, op)) => format!(
                "{logger}jepsen.util - {}\n",
                op.splitn(4, ' ').collect::<Vec<_>>().join("\t")
            ),
            None => format!("{l}\n"),
        })
        .collect();
    assert!(tabs.contains("2\t:invoke\t:cas\t[1 4]\n"), "{tabs}");
    let (code, out, err) = check("cas-register", &dir.file("tabs.log", &tabs), &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("cannot be placed after it (key register then holds 4):\n    p1 read -> 1  (lines 8, 9)\n"), "{out}");
}

#[test]
fn a_search_out_of_budget_is_unknown() {
    let dir = Dir::new("budget");
    let file = dir.file("stale.edn", STALE_EDN);
    let (code, out, err) = check("cas-register", &file, &["--max-steps", "2"]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(out.contains("key register: unknown: gave up after"), "{out}");
    let (code, out, err) = check("cas-register", &file, &["--max-states", "1"]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(out.contains("key register: unknown: gave up after"), "{out}");
    assert!(out.ends_with("\nunknown\n"), "{out}");
}

#[test]
fn unreadable_input_exits_3_naming_the_line_and_what_was_expected() {
    let dir = Dir::new("malformed");
    #[rustfmt::skip]
    let cases = [
        ("bad.edn", STALE_EDN.replace(":value 2, :process 1, :time 40", ":value 2 :process"), "line 5: expected a map of keys and values, in pairs, found 9 items"),
        ("bad.log", "INFO  jepsen.util - 0 :invoke :write 1\nINFO  jepsen.util - 0 :ok :write one\n".to_owned(), "line 2: "),
        ("bad.jsonl", "{\"schema\":\"faultline.history/1\"}\n{\"index\":\"zero\"}\n".to_owned(), "line 2: expected an operation"),
        ("what.txt", "hello\n".to_owned(), "line 1: unrecognised format: expected a faultline history"),
    ];
    for (name, text, expected) in cases {
        let file = dir.file(name, &text);
        let (code, out, err) = check("cas-register", &file, &[]);
        assert_eq!(code, Some(3), "{name}: {out}{err}");
        assert!(err.contains(&format!("error: in {file}: {expected}")), "{name}: {err}");
    }
    // A file of no register operations is not vacuously linearizable.
    let billing = "{\"schema\":\"faultline.history/1\",\"workload\":\"billing\"}\n{\"index\":0,\"time\":1,\"process\":3,\"type\":\"invoke\",\"f\":\"debit\",\"value\":{\"account\":7,\"amount\":5}}\n";
    let (code, _, err) = check("cas-register", &dir.file("billing.jsonl", billing), &[]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("holds no register operations to check"), "{err}");
    let (code, _, err) = check("cas-register", &dir.file("empty.log", ""), &[]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("line 1: the file is empty"), "{err}");
    let missing = dir.0.join("missing.edn");
    let (code, _, err) = check("cas-register", missing.to_str().unwrap(), &[]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("cannot read") && err.contains("missing.edn"), "{err}");
}
