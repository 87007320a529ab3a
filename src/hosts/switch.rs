//! The dead-man switch: one per host per run, so a harness killed with SIGKILL or cut
//! off from its hosts leaves them healed within the lease.
//!
//! [`arm`] writes `switch.sh` into the run's state directory, sets the lease and starts
//! the script detached (`setsid`, no terminal, stdin from /dev/null), so it outlives the
//! SSH command that started it. Every second the script reads `lease` (epoch seconds
//! by the host's own clock, so the harness's clock never matters); once the host's clock
//! passes it, or the file cannot be read, it heals ([`commands::heal`]: chain
//! `FAULTLINE` flushed, the netem qdisc deleted, paused groups resumed), logs each step
//! with its time to `switch.log` and exits. It never stops the run's servers.
//!
//! The harness [`renew`]s the lease every third of it, by writing
//! `$(( $(date +%s) + LEASE ))` on the host (a rename, so the script never reads half a
//! file). A renewal that finds the switch gone (it fired: the harness was cut off for a
//! whole lease) starts it again and says so.
//!
//! **Disarming kills the script** ([`disarm`]): the harness sends SIGTERM to the process
//! group of the pid in `switch.pid` (the script leads a session of its own) when its
//! command line is this run's `switch.sh`, then removes `lease`.

use super::commands::{self, BASE, quote, run_dir};
use std::time::Duration;

/// The script for `run`, whose state directory is `dir`, shaping `interface`.
pub fn script(dir: &str, run: &str, interface: &str, lease: Duration) -> String {
    format!(
        "#!/bin/sh\n\
         # faultline's dead-man switch for run {run} (lease {lease} s): heals this host once\n\
         # {dir}/lease (epoch seconds, this host's clock) has passed or cannot be read.\n\
         log() {{ echo \"$(date -u '+%Y-%m-%dT%H:%M:%S.%3NZ') $*\" >> {dir}/switch.log; }}\n\
         echo $$ > {dir}/switch.pid\n\
         log \"armed: pid $$\"\n\
         while :; do\n  \
           lease=$(cat {dir}/lease 2>/dev/null)\n  \
           now=$(date +%s)\n  \
           case \"$lease\" in ''|*[!0-9]*) log \"lease unreadable: healing\"; break ;; esac\n  \
           [ \"$now\" -ge \"$lease\" ] && {{ log \"lease expired at $lease (now $now): healing\"; break; }}\n  \
           sleep 1\n\
         done\n{}\
         rm -f {dir}/switch.pid\n\
         log \"healed; exiting\"\n",
        commands::heal(dir, interface),
        lease = lease.as_secs(),
    )
}

/// Sets the lease and (re)starts the switch of the state directory `dir` unless it runs;
/// prints `started` when it had to start it, followed by the time the switch fired if it
/// had since it was last armed (from `switch.log`; nothing when it was gone otherwise).
fn renew_in(dir: &str, lease: Duration) -> String {
    format!(
        "[ -d {dir} ] || {{ echo \"{dir} is gone\" >&2; exit 1; }}\n\
         echo $(( $(date +%s) + {} )) > {dir}/lease.new && mv {dir}/lease.new {dir}/lease || exit 1\n\
         pid=$(cat {dir}/switch.pid 2>/dev/null)\n\
         if [ -z \"$pid\" ] || ! tr '\\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -qF {dir}/switch.sh; then\n  \
           rm -f {dir}/switch.pid\n  \
           fired=$(awk '/ armed: pid / {{ t = \"\" }} /: healing$/ {{ t = $1 }} END {{ print t }}' {dir}/switch.log 2>/dev/null)\n  \
           cd / && setsid sh {dir}/switch.sh > /dev/null 2>&1 < /dev/null 9>&- &\n  \
           i=0; while [ ! -s {dir}/switch.pid ]; do [ \"$i\" -ge 50 ] && {{ echo \"the dead-man switch did not start: see {dir}/switch.log\" >&2; exit 1; }}; sleep 0.1; i=$((i + 1)); done\n  \
           echo started $fired\n\
         fi\n",
        lease.as_secs()
    )
}

/// Renews `run`'s lease on a host (see the module's doc); prints `started TIME` when
/// the switch had fired (at TIME, by the host's clock) and was started again, `started`
/// when it was gone without firing.
pub fn renew(run: &str, lease: Duration) -> String {
    renew_in(&run_dir(run), lease)
}

/// Arms the switch of `run`, under the host's [`commands::lock`]: when another run's
/// lease is live, prints `busy RUN SECONDS` and changes nothing; otherwise makes the
/// state directory (mode 700) with `interface`, an empty `paused`, `netem-before` when
/// the interface already has a netem root qdisc (then no heal deletes it) and
/// `switch.sh`; with `chain`, chain `FAULTLINE` and the jump to it from INPUT (where
/// iptables exists); sets the lease and starts the script.
pub fn arm(run: &str, interface: &str, lease: Duration, chain: bool) -> String {
    let d = run_dir(run);
    let i = quote(interface);
    let chain = if chain {
        "if command -v iptables > /dev/null; then\n  \
           iptables -w -N FAULTLINE 2>/dev/null\n  \
           iptables -w -C INPUT -m comment --comment faultline-jump -j FAULTLINE 2>/dev/null || \
           iptables -w -I INPUT 1 -m comment --comment faultline-jump -j FAULTLINE || exit 1\n\
         fi\n"
    } else {
        ""
    };
    format!(
        "{}now=$(date +%s)\n\
         for l in {BASE}/*/lease; do\n  \
           [ -f \"$l\" ] || continue; r=${{l%/lease}}; r=${{r##*/}}; [ \"$r\" = {run} ] && continue\n  \
           e=$(cat \"$l\"); [ \"$e\" -gt \"$now\" ] 2>/dev/null && {{ echo \"busy $r $((e - now))\"; exit 0; }}\n\
         done\n\
         mkdir -p -m 700 {d} || exit 1\n\
         if [ ! -e {d}/interface ]; then\n  \
           tc qdisc show dev {i} root 2>/dev/null | grep -q netem && : > {d}/netem-before\n  \
           echo {i} > {d}/interface\n\
         fi\n\
         : >> {d}/paused\n\
         printf '%s' {} > {d}/switch.sh || exit 1\n{chain}{}",
        commands::lock(BASE),
        quote(&script(&d, run, interface, lease)),
        renew_in(&d, lease)
    )
}

/// Disarms `run`'s switch: kills it (only if `switch.pid` still names this run's
/// script), then removes `lease` and `switch.pid`.
pub fn disarm(run: &str) -> String {
    let d = run_dir(run);
    format!(
        "pid=$(cat {d}/switch.pid 2>/dev/null)\n\
         [ -n \"$pid\" ] && tr '\\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -qF {d}/switch.sh && kill -TERM -\"$pid\"\n\
         rm -f {d}/lease {d}/switch.pid\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::Instant;

    fn sh(script: &str) -> std::process::Output {
        Command::new("sh").arg("-c").arg(script).output().expect("sh")
    }

    /// Runs the real script locally against a state directory of its own: a process
    /// group listed in `paused` and SIGSTOPped is resumed once the lease passes, and the
    /// switch logs it and exits. (iptables and tc steps find nothing to undo here.)
    #[test]
    fn an_expired_lease_resumes_paused_groups_and_the_switch_exits() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("run-1");
        std::fs::create_dir(&dir).expect("state dir");
        let dir = dir.to_str().expect("utf-8 path").to_string();
        // A process group of its own from before it runs (no race with `setsid`).
        let mut sleeper = Command::new("sleep")
            .arg("60")
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .expect("sleep");
        let pg = sleeper.id();
        std::fs::write(format!("{dir}/paused"), format!("{pg}\n")).expect("paused");
        assert!(sh(&format!("kill -STOP -{pg}")).status.success());
        let script = script(&dir, "run-1", "faultline-none0", Duration::from_secs(2));
        std::fs::write(format!("{dir}/switch.sh"), script).expect("script");
        let renewed = sh(&renew_in(&dir, Duration::from_secs(2)));
        assert_eq!(String::from_utf8_lossy(&renewed.stdout), "started\n", "{renewed:?}");

        let state = || std::fs::read_to_string(format!("/proc/{pg}/stat")).expect("stat");
        assert!(state().contains(") T "), "the group is stopped: {}", state());
        let deadline = Instant::now() + Duration::from_secs(2 + 3);
        while std::path::Path::new(&format!("{dir}/switch.pid")).exists() {
            assert!(Instant::now() < deadline, "the switch did not fire within lease + 3 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        let stat = state();
        sleeper.kill().expect("kill sleep");
        sleeper.wait().expect("reap sleep");
        assert!(!stat.contains(") T "), "the group runs again: {stat}");
        let log = std::fs::read_to_string(format!("{dir}/switch.log")).expect("log");
        assert!(log.contains("lease expired"), "{log}");
        assert!(log.contains(&format!("resumed process group {pg}")), "{log}");
        assert_eq!(std::fs::read_to_string(format!("{dir}/paused")).expect("paused"), "");
        let again = sh(&renew_in(&dir, Duration::from_secs(30)));
        let said = String::from_utf8_lossy(&again.stdout).to_string();
        let fired = log.lines().find(|l| l.contains("lease expired")).expect("fired line");
        let at = fired.split(' ').next().expect("time");
        assert_eq!(said, format!("started {at}\n"), "a renewal says when the switch fired");
        let pid = std::fs::read_to_string(format!("{dir}/switch.pid")).expect("pid");
        assert!(sh(&format!("kill -TERM -{}", pid.trim())).status.success());
    }

    #[test]
    fn arming_checks_for_other_runs_and_arms_under_the_lock() {
        let script = arm("r1", "eth0", Duration::from_secs(20), true);
        let at = |what: &str| script.find(what).unwrap_or_else(|| panic!("{what} in {script}"));
        assert!(at("flock -w 30 9") < at("echo \"busy $r $((e - now))\"; exit 0"));
        assert!(at("exit 0; }") < at("mkdir -p -m 700 /var/lib/faultline/r1"));
        assert!(at("grep -q netem && : > /var/lib/faultline/r1/netem-before") > at("flock"));
        assert!(script.contains("< /dev/null 9>&- &"), "the switch does not hold the lock");
    }

    /// Two arming scripts on one state base at once: the lock lets one check and arm
    /// before the other checks, so exactly one is told the host is busy.
    #[test]
    fn of_two_runs_arming_at_once_exactly_one_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path().to_str().expect("utf-8").to_string();
        let arm_in = |run: &str| {
            let d = format!("{base}/{run}");
            let (script, base) =
                (arm(run, "faultline-none0", Duration::from_secs(30), false), &base);
            let script = script.replace(BASE, base);
            let script = format!("{script}\nkill -TERM -$(cat {d}/switch.pid)\n");
            Command::new("sh").arg("-c").arg(script).stdout(Stdio::piped()).spawn().expect("sh")
        };
        let (a, b) = (arm_in("run-a"), arm_in("run-b"));
        let said: Vec<String> = [a, b]
            .into_iter()
            .map(|child| {
                let out = child.wait_with_output().expect("wait");
                String::from_utf8_lossy(&out.stdout).into_owned()
            })
            .collect();
        let busy = said.iter().filter(|s| s.starts_with("busy run-")).count();
        assert_eq!(busy, 1, "{said:?}");
    }

    #[test]
    fn a_renewal_keeps_a_running_switch() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_str().expect("utf-8 path").to_string();
        let script = script(&dir, "run-2", "faultline-none0", Duration::from_secs(30));
        std::fs::write(format!("{dir}/switch.sh"), script).expect("script");
        let first = sh(&renew_in(&dir, Duration::from_secs(30)));
        let second = sh(&renew_in(&dir, Duration::from_secs(30)));
        let pid = std::fs::read_to_string(format!("{dir}/switch.pid")).expect("pid");
        let killed = sh(&format!("kill -TERM -{}", pid.trim()));
        assert_eq!(String::from_utf8_lossy(&first.stdout), "started\n", "it never fired");
        assert_eq!(String::from_utf8_lossy(&second.stdout), "", "{second:?}");
        assert!(killed.status.success());
    }
}
