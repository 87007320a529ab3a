//! The shell scripts the SSH backend runs on a host, rendered as text: pure functions,
//! so `--dry-run` prints exactly what a run would do and tests read them.
//!
//! Every script runs as root through `sh -c` (see `remote::Remote::run`). The layout
//! they keep is the one `hosts` documents: a run's state directory
//! `/var/lib/faultline/<run>/`, the chain `FAULTLINE`, a netem root qdisc.
//!
//! - [`FUNCTIONS`]: the shell functions the node scripts share (a process group's live
//!   members, whether a pid file still names the group faultline started).
//! - node control: [`start`], [`kill`], [`stop`], [`pause`], [`unpause`], [`signal`],
//!   [`state`], [`logs`], [`write_file`], [`clear_redis_files`].
//! - the run: [`heal`], [`teardown`], [`drop_chain`], [`lock`].

use std::path::Path;

/// Where faultline keeps the state of every run on a host.
pub const BASE: &str = "/var/lib/faultline";

/// The state directory of `run` on a host.
pub fn run_dir(run: &str) -> String {
    format!("{BASE}/{run}")
}

/// Whether `run` can name a state directory (letters, digits, `-`, `_`).
pub fn valid_run(run: &str) -> bool {
    !run.is_empty() && run.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `text` as one single-quoted shell word.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Shell functions the node scripts share:
/// - `members PG`: how many live (not zombie) processes process group PG has;
/// - `await_gone PG SECS`: waits up to SECS seconds for PG to have none (status 1 if not);
/// - `ours PIDFILE`: prints the process group PIDFILE names if it is still the one that
///   wrote it (its leader started within 2 s of the file's time, or the leader is gone
///   and members are left, which keeps the id from being reused), nothing otherwise;
/// - `log`: discards its message (the dead-man switch defines its own).
pub const FUNCTIONS: &str = r#"members() { cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="$1" '{ sub(/.*\) /, ""); if ($3 == g && $1 != "Z") n++ } END { print n + 0 }'; }
await_gone() { i=0; while [ "$(members "$1")" -gt 0 ]; do [ "$i" -ge $(( $2 * 10 )) ] && return 1; sleep 0.1; i=$((i + 1)); done; }
ours() {
  pg=$(cat "$1" 2>/dev/null) || return 0
  case "$pg" in ''|*[!0-9]*) return 0 ;; esac
  if [ -r "/proc/$pg/stat" ]; then
    at=$(( $(awk '/^btime/ { print $2 }' /proc/stat) + $(sed 's/.*) //' "/proc/$pg/stat" | cut -d' ' -f20) / $(getconf CLK_TCK) ))
    written=$(stat -c %Y "$1")
    [ $(( at - written )) -le 2 ] && [ $(( written - at )) -le 2 ] && echo "$pg"
  elif [ "$(members "$pg")" -gt 0 ]; then echo "$pg"; fi
  return 0
}
log() { :; }
"#;

/// Starts `node` from its role's `start` command line: detached in a session (and so a
/// process group) of its own, its pid in `<node>.pid`, its output appended to
/// `<node>.log`; returns once the pid file is written.
pub fn start(run: &str, node: &str, command: &str) -> String {
    let d = run_dir(run);
    let inner = quote(&format!("echo $$ > {d}/{node}.pid; exec {command}"));
    format!(
        "{FUNCTIONS}pg=$(ours {d}/{node}.pid)\n\
         [ -z \"$pg\" ] || {{ echo \"{node} is already running (process group $pg)\" >&2; exit 1; }}\n\
         rm -f {d}/{node}.pid\n\
         cd / && setsid sh -c {inner} >> {d}/{node}.log 2>&1 < /dev/null &\n\
         i=0; while [ ! -s {d}/{node}.pid ]; do [ \"$i\" -ge 50 ] && {{ echo \"{node} did not start within 5 s: see {d}/{node}.log\" >&2; exit 1; }}; sleep 0.1; i=$((i + 1)); done\n"
    )
}

/// The lines that find `node`'s process group as `$pg` or, when none runs, do `absent`.
fn find(d: &str, node: &str, absent: &str) -> String {
    format!("{FUNCTIONS}pg=$(ours {d}/{node}.pid)\n[ -n \"$pg\" ] || {absent}\n")
}

/// Removes `$pg` from the run's `paused` list.
fn unlist(d: &str) -> String {
    format!("grep -vxF \"$pg\" {d}/paused > {d}/paused.new; mv {d}/paused.new {d}/paused\n")
}

fn not_running(node: &str) -> String {
    format!("{{ echo \"{node} is not running\" >&2; exit 1; }}")
}

/// SIGKILL to `node`'s whole process group, then waits (10 s at most) until no process
/// of it is left. A node that does not run is left as it is.
pub fn kill(run: &str, node: &str) -> String {
    let d = run_dir(run);
    format!(
        "{}kill -KILL -\"$pg\"\n\
         await_gone \"$pg\" 10 || {{ echo \"process group $pg of {node} still has processes 10 s after SIGKILL\" >&2; exit 1; }}\n{}",
        find(&d, node, "exit 0"),
        unlist(&d)
    )
}

/// SIGTERM to `node`'s leader, 10 s for the group to exit, then SIGKILL to the group.
pub fn stop(run: &str, node: &str) -> String {
    let d = run_dir(run);
    format!(
        "{}kill -TERM \"$pg\"\n\
         if ! await_gone \"$pg\" 10; then kill -KILL -\"$pg\"; await_gone \"$pg\" 5 || {{ echo \"process group $pg of {node} survived SIGKILL\" >&2; exit 1; }}; fi\n{}",
        find(&d, node, "exit 0"),
        unlist(&d)
    )
}

/// SIGSTOP to `node`'s process group, listed in `paused` for the dead-man switch.
pub fn pause(run: &str, node: &str) -> String {
    let d = run_dir(run);
    format!(
        "{}grep -qxF \"$pg\" {d}/paused || echo \"$pg\" >> {d}/paused\nkill -STOP -\"$pg\"\n",
        find(&d, node, &not_running(node))
    )
}

/// SIGCONT to `node`'s process group, taken off `paused`.
pub fn unpause(run: &str, node: &str) -> String {
    let d = run_dir(run);
    format!("{}kill -CONT -\"$pg\" || exit 1\n{}", find(&d, node, &not_running(node)), unlist(&d))
}

/// `kill -<signal>` to `node`'s leader (`signal` is a name such as `HUP`).
pub fn signal(run: &str, node: &str, signal: &str) -> String {
    let d = run_dir(run);
    format!("{}kill -{} \"$pg\"\n", find(&d, node, &not_running(node)), quote(signal))
}

/// Prints `running` when `node`'s leader lives, and `paused` on the next line when it is
/// stopped (state `T`).
pub fn state(run: &str, node: &str) -> String {
    let d = run_dir(run);
    format!(
        "{}kill -0 \"$pg\" 2>/dev/null || exit 0\necho running\n\
         [ \"$(sed 's/.*) //' /proc/$pg/stat | cut -d' ' -f1)\" = T ] && echo paused\nexit 0\n",
        find(&d, node, "exit 0")
    )
}

/// The last `tail` lines of `node`'s log (all of it with `None`; nothing before it has
/// run).
pub fn logs(run: &str, node: &str, tail: Option<usize>) -> String {
    let d = run_dir(run);
    match tail {
        Some(n) => format!("tail -n {n} {d}/{node}.log 2>/dev/null; exit 0"),
        None => format!("cat {d}/{node}.log 2>/dev/null; exit 0"),
    }
}

/// Writes `text` to `path` (its directory made first), listed in the run's `files` so
/// teardown and `clean --hosts` remove it.
pub fn write_file(run: &str, path: &Path, text: &str) -> String {
    let d = run_dir(run);
    let p = quote(&path.to_string_lossy());
    format!(
        "grep -qxF {p} {d}/files 2>/dev/null || echo {p} >> {d}/files\n\
         mkdir -p \"$(dirname {p})\" && printf '%s' {} > {p}\n",
        quote(text)
    )
}

/// Makes Redis's `dir` exist and deletes Redis's own files in it (`dump.rdb`,
/// `appendonlydir`, `appendonly.aof`, `temp-*.rdb`), so no data of an earlier run is
/// loaded; nothing else in it is touched.
pub fn clear_redis_files(dir: &Path) -> String {
    let p = quote(&dir.to_string_lossy());
    format!(
        "mkdir -p {p} && rm -rf -- {p}/dump.rdb {p}/appendonlydir {p}/appendonly.aof {p}/temp-*.rdb\n"
    )
}

/// Heals the host from the faults of the run whose state directory is `d`: flushes
/// chain `FAULTLINE`, deletes a netem root qdisc on `interface` unless the host had one
/// when the run was armed (`netem-before`: then it is not faultline's), resumes every
/// group in `paused` and empties it. Each step calls `log` with what it did.
pub fn heal(d: &str, interface: &str) -> String {
    let i = quote(interface);
    format!(
        "iptables -w -F FAULTLINE 2>/dev/null && log \"flushed chain FAULTLINE\"\n\
         if [ ! -f {d}/netem-before ] && tc qdisc show dev {i} root 2>/dev/null | grep -q netem; then tc qdisc del dev {i} root && log \"deleted the netem qdisc on {interface}\"; fi\n\
         if [ -f {d}/paused ]; then\n  \
           while read -r g; do [ -n \"$g\" ] && kill -CONT -\"$g\" 2>/dev/null && log \"resumed process group $g\"; done < {d}/paused\n  \
           : > {d}/paused\n\
         fi\n"
    )
}

/// Takes the host's lock on runs (`flock` on `.lock` in `base`, the state base; the
/// file is kept for good), for the rest of the script: arming (check that no other run
/// is live, then arm), dropping the chain and cleaning take turns. Commands started in
/// the background must close fd 9.
pub fn lock(base: &str) -> String {
    format!(
        "mkdir -p {base} && exec 9>> {base}/.lock || exit 1\n\
         flock -w 30 9 || {{ echo \"could not lock {base}/.lock within 30 s: another faultline is arming, \
         tearing down or cleaning this host; try again\" >&2; exit 1; }}\n"
    )
}

/// Deletes chain `FAULTLINE` and its jump from INPUT when no run's state directory is
/// left on the host (a run's directory is one of [`BASE`] holding `interface`, the first
/// file arming writes), under the [`lock`] so that no run arms meanwhile.
pub fn drop_chain() -> String {
    format!(
        "{}for r in {BASE}/*/interface; do [ -e \"$r\" ] && exit 0; done\n\
         while iptables -w -D INPUT -m comment --comment faultline-jump -j FAULTLINE 2>/dev/null; do :; done\n\
         iptables -w -F FAULTLINE 2>/dev/null; iptables -w -X FAULTLINE 2>/dev/null\nexit 0\n",
        lock(BASE)
    )
}

/// [`heal`] on its own (nothing logged): the backstop's script.
pub fn heal_now(run: &str, interface: &str) -> String {
    format!("log() {{ :; }}\n{}", heal(&run_dir(run), interface))
}

/// Ends a run on a host: the faults healed, every node faultline started stopped (its
/// group SIGKILLed 2 s after a SIGTERM), the dead-man switch disarmed, the files in
/// `files` and the state directory removed, the chain dropped when no other run is left.
/// Exits 1 after doing all it could if something resisted (said on stderr).
pub fn teardown(run: &str, interface: &str) -> String {
    let d = run_dir(run);
    format!(
        "{FUNCTIONS}[ -d {d} ] || exit 0\nstatus=0\n{}\
         for f in {d}/*.pid; do\n  \
           case \"$f\" in */switch.pid) continue ;; esac\n  \
           pg=$(ours \"$f\"); [ -n \"$pg\" ] || continue\n  \
           kill -TERM \"$pg\" 2>/dev/null\n  \
           await_gone \"$pg\" 2 || {{ kill -KILL -\"$pg\"; await_gone \"$pg\" 5 || {{ echo \"process group $pg ($f) survived SIGKILL\" >&2; status=1; }}; }}\n\
         done\n{}\
         if [ -f {d}/files ]; then while IFS= read -r p; do [ -n \"$p\" ] && rm -f -- \"$p\"; done < {d}/files; fi\n\
         rm -rf {d}\n(\n{})\nexit $status\n",
        heal(&d, interface),
        crate::hosts::switch::disarm(run),
        drop_chain()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn run_ids_are_plain_names() {
        assert!(valid_run("3fa9c2d1"));
        assert!(!valid_run("../etc"));
        assert!(!valid_run(""));
    }

    #[test]
    fn start_detaches_into_a_group_of_its_own_and_records_it() {
        let s = start("r1", "redis-0", "redis-server /etc/faultline/redis.conf");
        assert!(s.contains(
            "setsid sh -c 'echo $$ > /var/lib/faultline/r1/redis-0.pid; exec redis-server \
             /etc/faultline/redis.conf' >> /var/lib/faultline/r1/redis-0.log 2>&1 < /dev/null &"
        ));
    }

    /// Runs the real script on a directory holding Redis's files and one of someone
    /// else's: only Redis's go.
    #[test]
    fn setup_deletes_only_redis_files_in_the_data_directory() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        std::fs::create_dir_all(data.join("appendonlydir")).expect("dirs");
        for file in
            ["dump.rdb", "appendonly.aof", "temp-123.rdb", "appendonlydir/a.aof", "keep.txt"]
        {
            std::fs::write(data.join(file), "x").expect("file");
        }
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(clear_redis_files(&data))
            .output()
            .expect("sh");
        assert!(out.status.success(), "{out:?}");
        let left: Vec<_> = std::fs::read_dir(&data)
            .expect("data")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        assert_eq!(left, ["keep.txt"]);
        let fresh = tmp.path().join("fresh/dir");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(clear_redis_files(&fresh))
            .output()
            .expect("sh");
        assert!(out.status.success() && fresh.is_dir(), "{out:?}");
    }

    /// Runs [`heal`] with a `tc` of its own on PATH that shows a netem root qdisc and
    /// records deletions: it deletes it only when the host had none at arm time.
    #[test]
    fn heal_deletes_a_netem_qdisc_only_when_the_host_had_none_when_armed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let bin = tmp.path().join("bin");
        std::fs::create_dir(&bin).expect("bin");
        let deleted = tmp.path().join("deleted");
        let tc = format!(
            "#!/bin/sh\ncase \"$2\" in show) echo 'qdisc netem 8001: root refcnt 2' ;; del) echo \"$*\" >> {} ;; esac\n",
            deleted.display()
        );
        std::fs::write(bin.join("tc"), tc).expect("tc");
        let chmod = std::process::Command::new("chmod").arg("755").arg(bin.join("tc")).status();
        assert!(chmod.expect("chmod").success());
        let d = tmp.path().join("run");
        std::fs::create_dir(&d).expect("run dir");
        let d = d.to_str().expect("utf-8").to_string();
        let heal = |d: &str| {
            let script =
                format!("log() {{ :; }}\nPATH={}:$PATH\n{}", bin.display(), heal(d, "eth9"));
            let out = std::process::Command::new("sh").arg("-c").arg(script).output().expect("sh");
            assert!(out.status.success(), "{out:?}");
        };
        std::fs::write(format!("{d}/netem-before"), "").expect("netem-before");
        heal(&d);
        assert!(!deleted.exists(), "a netem qdisc the host had before the run stays");
        std::fs::remove_file(format!("{d}/netem-before")).expect("rm");
        heal(&d);
        let said = std::fs::read_to_string(&deleted).expect("deleted");
        assert_eq!(said, "qdisc del dev eth9 root\n");
    }

    #[test]
    fn written_files_are_listed_for_removal() {
        let s = write_file("r1", Path::new("/etc/faultline/redis.conf"), "port 6379\n");
        assert!(s.contains("echo '/etc/faultline/redis.conf' >> /var/lib/faultline/r1/files"));
        assert!(s.contains("printf '%s' 'port 6379\n' > '/etc/faultline/redis.conf'"));
    }
}
