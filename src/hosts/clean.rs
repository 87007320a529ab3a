//! `faultline clean --hosts`: removes everything faultline ever left on an inventory's
//! hosts, and nothing else: every run's state directory (its dead-man switch stopped,
//! its paused groups resumed, the servers it started killed, the files it wrote
//! removed), chain `FAULTLINE` and its jump, a netem root qdisc on the interface that a
//! cleaned run added. A run whose lease is still in the future is live (its harness
//! renews it: maybe a colleague's) and is left alone, with the chain and the qdisc.

use super::commands::{BASE, FUNCTIONS, lock, quote};
use super::inventory::{Host, Inventory};
use super::remote::{Remote, describe};
use super::ssh::combine;
use crate::cluster::ClusterError;
use futures::future::join_all;

/// What `clean` removed, per host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanReport {
    /// Each host (`name (address)`) and what was removed there, one line each, in order.
    pub hosts: Vec<(String, Vec<String>)>,
}

/// Cleans every host of `inventory` at once; fails naming every host it could not
/// reach or clean fully (the others are cleaned all the same).
pub async fn clean(inventory: &Inventory) -> Result<CleanReport, ClusterError> {
    let done = join_all(inventory.resolved().iter().map(clean_host)).await;
    let mut report = CleanReport::default();
    let mut errors = Vec::new();
    for result in done {
        match result {
            Ok(host) => report.hosts.push(host),
            Err(e) => errors.push(e),
        }
    }
    combine(errors)?;
    Ok(report)
}

async fn clean_host(host: &Host) -> Result<(String, Vec<String>), ClusterError> {
    let remote = Remote::connect(host).await?;
    let out = remote.check("cleaning", &script(&host.interface)).await;
    remote.close().await?;
    Ok((describe(host), out?.lines().map(str::to_string).collect()))
}

/// The script that cleans a host, printing what it removed (and each live run it left),
/// one line each.
fn script(interface: &str) -> String {
    script_in(BASE, interface)
}

/// [`script`] for the state base `base`.
fn script_in(base: &str, interface: &str) -> String {
    let i = quote(interface);
    format!(
        "{FUNCTIONS}{}status=0; live=0; ours=0; before=0; now=$(date +%s)\n\
         for d in {base}/*/; do\n  \
           d=${{d%/}}; r=${{d##*/}}; [ -f \"$d/interface\" ] || continue\n  \
           e=$(cat \"$d/lease\" 2>/dev/null)\n  \
           if [ \"$e\" -gt \"$now\" ] 2>/dev/null; then echo \"left run $r: its lease is live for $((e - now)) s more\"; live=1; continue; fi\n  \
           if [ -f \"$d/netem-before\" ]; then before=1; else ours=1; fi\n  \
           pid=$(cat \"$d/switch.pid\" 2>/dev/null)\n  \
           if [ -n \"$pid\" ] && tr '\\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -qF \"$d/switch.sh\" && kill -TERM -\"$pid\"; then echo \"run $r: dead-man switch (pid $pid) stopped\"; fi\n  \
           if [ -f \"$d/paused\" ]; then while read -r g; do [ -n \"$g\" ] && kill -CONT -\"$g\" 2>/dev/null && echo \"run $r: process group $g resumed\"; done < \"$d/paused\"; fi\n  \
           for f in \"$d\"/*.pid; do\n    \
             case \"$f\" in */switch.pid) continue ;; esac\n    \
             pg=$(ours \"$f\"); [ -n \"$pg\" ] || continue\n    \
             kill -KILL -\"$pg\"\n    \
             if await_gone \"$pg\" 5; then echo \"run $r: process group $pg ($(basename \"$f\" .pid)) killed\"; else echo \"run $r: process group $pg survived SIGKILL\" >&2; status=1; fi\n  \
           done\n  \
           if [ -f \"$d/files\" ]; then while IFS= read -r p; do [ -n \"$p\" ] && [ -e \"$p\" ] && rm -f -- \"$p\" && echo \"run $r: $p\"; done < \"$d/files\"; fi\n  \
           rm -rf \"$d\" && echo \"run $r: $d\"\n\
         done\n\
         [ \"$live\" = 0 ] || exit $status\n\
         if iptables -w -S FAULTLINE > /dev/null 2>&1; then\n  \
           while iptables -w -D INPUT -m comment --comment faultline-jump -j FAULTLINE 2>/dev/null; do :; done\n  \
           iptables -w -F FAULTLINE && iptables -w -X FAULTLINE && echo \"chain FAULTLINE and its jump\"\n\
         fi\n\
         if [ \"$ours\" = 1 ] && [ \"$before\" = 0 ] && tc qdisc show dev {i} root 2>/dev/null | grep -q netem; then tc qdisc del dev {i} root && echo \"netem qdisc on {interface}\"; fi\n\
         exit $status\n",
        lock(base)
    )
}

#[cfg(test)]
mod tests {
    use super::script_in;
    use std::path::Path;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(path, text).expect("write");
    }

    /// Runs the real script on a state base of its own: the run whose lease has passed
    /// goes with the file it wrote; the live one stays, said so.
    #[test]
    fn clean_leaves_a_live_run_alone_and_removes_an_expired_one() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path().join("base");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let written = tmp.path().join("redis.conf");
        write(&written, "port 6379\n");
        write(&base.join("old/interface"), "faultline-none0\n");
        write(&base.join("old/lease"), &format!("{}\n", now - 5));
        write(&base.join("old/files"), &format!("{}\n", written.display()));
        write(&base.join("live/interface"), "faultline-none0\n");
        write(&base.join("live/lease"), &format!("{}\n", now + 100));
        let script = script_in(base.to_str().expect("utf-8"), "faultline-none0");
        let out = std::process::Command::new("sh").arg("-c").arg(script).output().expect("sh");
        assert!(out.status.success(), "{out:?}");
        let said = String::from_utf8_lossy(&out.stdout);
        let live = said.lines().find(|l| l.starts_with("left run live: its lease is live for "));
        let secs: u64 = live
            .and_then(|l| l.strip_prefix("left run live: its lease is live for "))
            .and_then(|l| l.strip_suffix(" s more"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no live line in {said}"));
        assert!((95..=100).contains(&secs), "{said}");
        assert!(said.contains(&format!("run old: {}", written.display())), "{said}");
        assert!(!written.exists() && !base.join("old").exists(), "{said}");
        assert!(base.join("live/lease").exists(), "the live run is left: {said}");
        assert!(!said.contains("chain FAULTLINE"), "{said}");
    }
}
