//! `faultline clean --hosts`: removes everything faultline ever left on an inventory's
//! hosts, and nothing else: every run's state directory (its dead-man switch stopped,
//! its paused groups resumed, the servers it started killed, the files it wrote
//! removed), chain `FAULTLINE` and its jump, a netem root qdisc on the interface.

use super::commands::{BASE, FUNCTIONS, quote};
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

/// The script that cleans a host, printing what it removed, one line each.
pub(super) fn script(interface: &str) -> String {
    let i = quote(interface);
    format!(
        "{FUNCTIONS}status=0\n\
         for d in {BASE}/*/; do\n  \
           d=${{d%/}}; r=${{d##*/}}; [ -f \"$d/interface\" ] || continue\n  \
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
         if iptables -w -S FAULTLINE > /dev/null 2>&1; then\n  \
           while iptables -w -D INPUT -m comment --comment faultline-jump -j FAULTLINE 2>/dev/null; do :; done\n  \
           iptables -w -F FAULTLINE && iptables -w -X FAULTLINE && echo \"chain FAULTLINE and its jump\"\n\
         fi\n\
         if tc qdisc show dev {i} root 2>/dev/null | grep -q netem; then tc qdisc del dev {i} root && echo \"netem qdisc on {interface}\"; fi\n\
         rmdir {BASE} 2>/dev/null\nexit $status\n"
    )
}
