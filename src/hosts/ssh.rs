//! `SshNodes`: node control over SSH, each node a process on its host.
//!
//! The lead's order, so nothing on a host changes before every host is known fit:
//! [`SshNodes::connect`] (read-only: sessions, the harness's address) →
//! [`SshNodes::preflight`] (read-only checks) → [`SshNodes::arm`] (refuses a host
//! another live run holds, then the state directories and dead-man switches, renewed
//! from here on) → [`NodeControl::create`] → … → [`NodeControl::teardown`]. After any
//! error past `connect`, call `teardown`: it removes whatever was done (before `arm`,
//! nothing was, and it only closes the sessions; the backstop does nothing then either).
//! An armed `SshNodes` dropped without `teardown` (Ctrl-C, a panic, a failed start)
//! runs the teardown scripts from its `Drop`, on a thread with a runtime of its own.
//!
//! Each host's lease is renewed by a task of its own, each renewal given less than a
//! third of the lease, so a slow host delays no other's renewal. A renewal that finds
//! the switch had fired is remembered: [`NodeControl::interrupted`] reports it.
//!
//! Every command goes through `remote::Remote::run` with a script from `commands` or
//! `switch`; `plan` renders the same scripts without connecting (`--dry-run`).

use super::commands;
use super::inventory::{Inventory, Role, RoleSpec};
use super::remote::{Remote, describe};
use super::{plan, preflight, switch};
use crate::cluster::control::{Backend, NodeControl, NodeSpec};
use crate::cluster::{ClusterError, NodeKind, NodeState};
use crate::docker::ExecOutput;
use futures::future::join_all;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The nodes of a run on the hosts of an inventory, reached over SSH.
pub struct SshNodes {
    run: String,
    lease: Duration,
    remotes: Vec<Arc<Remote>>,
    roles: BTreeMap<Role, RoleSpec>,
    clients_ip: IpAddr,
    /// Whether the hosts may hold something of the run ([`SshNodes::arm`] was called)
    /// and [`NodeControl::teardown`] has not removed it yet: the drop guard.
    armed: bool,
    /// One lease-renewing task per host.
    renewals: Vec<tokio::task::JoinHandle<()>>,
    /// Each dead-man switch a renewal found had fired, as a sentence.
    fired: Arc<Mutex<Vec<String>>>,
}

impl SshNodes {
    /// Opens a session to every host of `inventory` at once, for run `run` (letters,
    /// digits, `-`, `_`), and reads the harness's address as the hosts see it. Changes
    /// nothing on any host. Errors name every host that could not be reached.
    pub async fn connect(inventory: &Inventory, run: &str) -> Result<SshNodes, ClusterError> {
        if !commands::valid_run(run) {
            return Err(ClusterError::Unsuitable(format!(
                "run id {run:?} cannot name a state directory: use letters, digits, - and _"
            )));
        }
        let hosts = inventory.resolved();
        let connected = join_all(hosts.iter().map(Remote::connect)).await;
        let (mut remotes, mut errors) = (Vec::new(), Vec::new());
        for result in connected {
            match result {
                Ok(remote) => remotes.push(Arc::new(remote)),
                Err(e) => errors.push(e),
            }
        }
        combine(errors)?;
        let clients_ip = clients_ip(&remotes[0]).await?;
        Ok(SshNodes {
            run: run.to_string(),
            lease: inventory.lease,
            remotes,
            roles: inventory.roles.clone(),
            clients_ip,
            armed: false,
            renewals: Vec::new(),
            fired: Arc::default(),
        })
    }

    /// Checks, on every host at once and without changing anything, that it can run what
    /// `needs` asks; every problem is one line (host, missing piece, what to do) of
    /// [`ClusterError::Unsuitable`].
    pub async fn preflight(&self, needs: &crate::nemesis::NodeNeeds) -> Result<(), ClusterError> {
        let checks = self.remotes.iter().map(|r| async move {
            match self.role(r) {
                Ok(role) => preflight::check(r, needs, role).await,
                Err(e) => vec![e.to_string()],
            }
        });
        let problems: Vec<String> = join_all(checks).await.into_iter().flatten().collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ClusterError::Unsuitable(problems.join("\n")))
        }
    }

    /// Arms the run on every host: on each, under its lock, refuses if another run's
    /// lease is live there (naming it), or makes the state directory, chain `FAULTLINE`
    /// and its jump (on hosts that allow faults) and starts the dead-man switch; from
    /// then on each host's lease is renewed every third of it until
    /// [`NodeControl::teardown`] (or this is dropped). When a host refuses, the others
    /// may be armed already: `teardown` (or dropping this) removes that.
    pub async fn arm(&mut self) -> Result<(), ClusterError> {
        self.armed = true;
        let armed = join_all(self.remotes.iter().map(|r| {
            let h = &r.host;
            let script = switch::arm(&self.run, &h.interface, self.lease, h.allow_faults);
            async move {
                let out = r.check("arming the dead-man switch", &script).await?;
                match out.lines().next().and_then(|l| l.strip_prefix("busy ")) {
                    None => Ok(()),
                    Some(busy) => Err(held(r, busy)),
                }
            }
        }))
        .await;
        combine(armed.into_iter().filter_map(Result::err).collect())?;
        self.renewals = self
            .remotes
            .iter()
            .map(|r| {
                let renewal = renew(r.clone(), self.run.clone(), self.lease, self.fired.clone());
                workloads::task::spawn(renewal)
            })
            .collect();
        Ok(())
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.run
    }

    fn remote(&self, node: &str) -> Result<&Arc<Remote>, ClusterError> {
        self.remotes
            .iter()
            .find(|r| r.host.node == node)
            .ok_or_else(|| ClusterError::UnknownNode(node.to_string()))
    }

    fn role(&self, remote: &Remote) -> Result<&RoleSpec, ClusterError> {
        self.roles.get(&remote.host.role).ok_or_else(|| {
            remote.error(format!("no [roles.{}] in the inventory", remote.host.role.key()))
        })
    }

    async fn act(&self, node: &str, what: &str, script: String) -> Result<String, ClusterError> {
        self.remote(node)?.check(&format!("{what} {node}"), &script).await
    }
}

/// The error for a host that run `busy` (`RUN SECONDS`, from [`switch::arm`]) holds.
fn held(remote: &Remote, busy: &str) -> ClusterError {
    let (run, secs) = busy.split_once(' ').unwrap_or((busy, "?"));
    remote.error(format!(
        "run {run} holds this host (its lease ends in {secs} s): wait for it to end; if its \
         harness is gone its dead-man switch heals the host when the lease ends, and \
         `faultline clean --hosts` removes what it left"
    ))
}

impl Drop for SshNodes {
    /// The drop guard: an armed run not torn down (Ctrl-C during start, a panic, a failed
    /// start) is torn down here, on a thread with a current-thread runtime of its own
    /// (`drop` cannot await, and may run on a runtime that must not block); failures are
    /// said on stderr.
    fn drop(&mut self) {
        self.renewals.iter().for_each(tokio::task::JoinHandle::abort);
        if !self.armed {
            return;
        }
        let (remotes, run) = (self.remotes.clone(), self.run.clone());
        let teardown = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("no runtime for the teardown: {e}"))?;
            let done = runtime.block_on(join_all(remotes.iter().map(|r| {
                let script = commands::teardown(&run, &r.host.interface);
                async move { r.check("tearing down", &script).await }
            })));
            let errors: Vec<String> =
                done.into_iter().filter_map(Result::err).map(|e| e.to_string()).collect();
            if errors.is_empty() { Ok(()) } else { Err(errors.join("\n")) }
        });
        let failed = match teardown.join() {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(_) => "the teardown panicked".to_string(),
        };
        eprintln!(
            "faultline: run {} was dropped without its teardown, and tearing it down failed: \
             {failed}\nrun `faultline clean --hosts FILE` (FILE: the run's inventory)",
            self.run
        );
    }
}

/// How long one renewal may take: less than the third of the lease between renewals,
/// so a slow host never holds up its next one.
fn renewal_timeout(lease: Duration) -> Duration {
    lease / 4
}

/// Renews the lease on `remote`'s host every third of it, each renewal given
/// [`renewal_timeout`]; a failure is a warning (the switch heals that host). A renewal
/// that finds the switch had fired (and started it again) is added to `fired`.
async fn renew(remote: Arc<Remote>, run: String, lease: Duration, fired: Arc<Mutex<Vec<String>>>) {
    let script = switch::renew(&run, lease);
    let host = describe(&remote.host);
    let mut ticks = tokio::time::interval(lease / 3);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let renewed = tokio::time::timeout(
            renewal_timeout(lease),
            remote.check("renewing the lease", &script),
        )
        .await;
        match renewed {
            Ok(Ok(out)) => {
                let Some(at) = out.trim().strip_prefix("started") else { continue };
                if at.is_empty() {
                    tracing::warn!(
                        "host {host}: the dead-man switch was gone (it had not fired); started again"
                    );
                    continue;
                }
                let said = format!(
                    "host {host}'s dead-man switch fired at {}: its faults were healed before \
                     the nemesis healed them",
                    at.trim()
                );
                tracing::warn!("{said} (run {run}); armed again");
                fired.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(said);
            }
            Ok(Err(e)) => tracing::warn!("{e}; its dead-man switch heals it when the lease ends"),
            Err(_) => tracing::warn!(
                "host {host}: renewing the lease took over {:?}; its dead-man switch heals it \
                 if the lease ends",
                renewal_timeout(lease)
            ),
        }
    }
}

/// The harness's address as `remote` sees it: the first field of `$SSH_CONNECTION`.
async fn clients_ip(remote: &Remote) -> Result<IpAddr, ClusterError> {
    let out = remote.as_user("echo \"$SSH_CONNECTION\"").await?;
    let first = out.stdout.split_whitespace().next().unwrap_or("");
    first.parse().map_err(|_| {
        remote.error(format!(
            "cannot tell the harness's address from $SSH_CONNECTION ({:?})",
            out.stdout.trim()
        ))
    })
}

/// One error, or every host's in one.
pub(super) fn combine(errors: Vec<ClusterError>) -> Result<(), ClusterError> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.into_iter().next().expect("one error")),
        _ => Err(ClusterError::Ssh {
            host: "several hosts".into(),
            message: errors.iter().map(|e| format!("\n  {e}")).collect(),
        }),
    }
}

/// The standard port of a role.
pub(super) fn port(role: Role) -> u16 {
    match role {
        Role::Redis => 6379,
        Role::Sentinel => 26379,
        Role::Postgres => 5432,
    }
}

fn kind(role: Role) -> NodeKind {
    match role {
        Role::Redis => NodeKind::Redis,
        Role::Sentinel => NodeKind::Sentinel,
        Role::Postgres => NodeKind::Postgres,
    }
}

fn unsupported(operation: &'static str, why: &'static str) -> ClusterError {
    ClusterError::Unsupported { operation, backend: Backend::Ssh, why }
}

#[async_trait::async_trait]
impl NodeControl for SshNodes {
    fn backend(&self) -> Backend {
        Backend::Ssh
    }

    async fn create(&mut self, specs: Vec<NodeSpec>) -> Result<(), ClusterError> {
        let this = &*self;
        let created = join_all(specs.iter().map(|spec| async move {
            let remote = this.remote(&spec.name)?;
            if kind(remote.host.role) != spec.kind {
                return Err(ClusterError::WrongKind {
                    operation: "create",
                    node: spec.name.clone(),
                    kind: spec.kind,
                });
            }
            let steps = plan::node_setup(&this.run, &remote.host, this.role(remote)?, &spec.config)
                .map_err(|e| remote.error(e))?;
            for (what, script) in steps {
                remote.check(&format!("{what} for {}", spec.name), &script).await?;
            }
            Ok(())
        }))
        .await;
        combine(created.into_iter().filter_map(Result::err).collect())
    }

    async fn exec(&self, node: &str, cmd: &[&str]) -> Result<ExecOutput, ClusterError> {
        self.remote(node)?.exec(cmd).await
    }

    async fn signal(&self, node: &str, signal: &str) -> Result<(), ClusterError> {
        self.act(node, "signalling", commands::signal(&self.run, node, signal)).await.map(drop)
    }

    async fn kill(&self, node: &str) -> Result<(), ClusterError> {
        self.act(node, "killing", commands::kill(&self.run, node)).await.map(drop)
    }

    async fn stop(&self, node: &str) -> Result<(), ClusterError> {
        self.act(node, "stopping", commands::stop(&self.run, node)).await.map(drop)
    }

    async fn start(&self, node: &str) -> Result<(), ClusterError> {
        let remote = self.remote(node)?;
        let script = commands::start(&self.run, node, &self.role(remote)?.start);
        self.act(node, "starting", script).await.map(drop)
    }

    async fn restart(&self, node: &str) -> Result<(), ClusterError> {
        self.stop(node).await?;
        self.start(node).await
    }

    async fn pause(&self, node: &str) -> Result<(), ClusterError> {
        self.act(node, "pausing", commands::pause(&self.run, node)).await.map(drop)
    }

    async fn unpause(&self, node: &str) -> Result<(), ClusterError> {
        self.act(node, "resuming", commands::unpause(&self.run, node)).await.map(drop)
    }

    async fn write_config(&self, node: &str, text: &str) -> Result<(), ClusterError> {
        let remote = self.remote(node)?;
        let script = commands::write_file(&self.run, &self.role(remote)?.config, text);
        self.act(node, "writing the configuration of", script).await.map(drop)
    }

    async fn logs(&self, node: &str, tail: Option<usize>) -> Result<String, ClusterError> {
        self.act(node, "reading the log of", commands::logs(&self.run, node, tail)).await
    }

    async fn client_addr(&self, node: &str) -> Result<SocketAddr, ClusterError> {
        let host = &self.remote(node)?.host;
        Ok(SocketAddr::new(host.address, port(host.role)))
    }

    async fn peer_ip(&self, node: &str) -> Result<IpAddr, ClusterError> {
        Ok(self.remote(node)?.host.address)
    }

    fn peer_host(&self, node: &str) -> Result<String, ClusterError> {
        Ok(self.remote(node)?.host.address.to_string())
    }

    async fn state(&self, node: &str) -> Result<NodeState, ClusterError> {
        let out = self.act(node, "reading the state of", commands::state(&self.run, node)).await?;
        let has = |word: &str| out.lines().any(|l| l.trim() == word);
        Ok(NodeState { running: has("running"), paused: has("paused"), connected: true })
    }

    async fn clients_ip(&self) -> Result<IpAddr, ClusterError> {
        Ok(self.clients_ip)
    }

    fn interface(&self, node: &str) -> Result<String, ClusterError> {
        Ok(self.remote(node)?.host.interface.clone())
    }

    async fn disconnect(&self, _node: &str) -> Result<(), ClusterError> {
        Err(unsupported(
            "disconnect",
            "a host stays on its network: partitions use iptables, which preflight requires",
        ))
    }

    async fn reconnect(&self, _node: &str) -> Result<(), ClusterError> {
        Err(unsupported(
            "reconnect",
            "a host stays on its network: partitions use iptables, which preflight requires",
        ))
    }

    fn interrupted(&self) -> Option<String> {
        let fired = self.fired.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (!fired.is_empty()).then(|| fired.join("; "))
    }

    fn rules_survive_restart(&self) -> bool {
        true
    }

    fn backstop(&self) -> Box<dyn FnOnce() -> Result<(), String> + Send> {
        let remotes = if self.armed { self.remotes.clone() } else { Vec::new() };
        let run = self.run.clone();
        Box::new(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("backstop: no runtime: {e}"))?;
            let healed = runtime.block_on(join_all(remotes.iter().map(|r| {
                let script = commands::heal_now(&run, &r.host.interface);
                async move { r.check("healing", &script).await }
            })));
            let errors: Vec<String> =
                healed.into_iter().filter_map(Result::err).map(|e| e.to_string()).collect();
            if errors.is_empty() { Ok(()) } else { Err(errors.join("\n")) }
        })
    }

    fn keep(self: Box<Self>) -> Result<(), ClusterError> {
        Err(unsupported(
            "--keep",
            "a run on hosts always tears down: its dead-man switches would heal the hosts anyway",
        ))
    }

    async fn teardown(mut self: Box<Self>) -> Result<(), ClusterError> {
        for renewal in std::mem::take(&mut self.renewals) {
            renewal.abort();
            // Awaited so that the task has let go of its session before it is closed.
            let _ = renewal.await;
        }
        let run = self.run.clone();
        let armed = self.armed;
        let done = join_all(self.remotes.iter().filter(|_| armed).map(|r| {
            let script = commands::teardown(&run, &r.host.interface);
            async move { r.check("tearing down", &script).await }
        }))
        .await;
        // Done, or said in the error returned: the drop guard has nothing left to do.
        self.armed = false;
        let mut errors: Vec<ClusterError> = done.into_iter().filter_map(Result::err).collect();
        for remote in std::mem::take(&mut self.remotes) {
            if let Ok(remote) = Arc::try_unwrap(remote)
                && let Err(e) = remote.close().await
            {
                errors.push(e);
            }
        }
        combine(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::renewal_timeout;
    use std::time::Duration;

    #[test]
    fn a_renewal_gives_up_before_the_next_one_is_due() {
        for secs in [3, 20, 600] {
            let lease = Duration::from_secs(secs);
            assert!(renewal_timeout(lease) < lease / 3, "lease {lease:?}");
        }
    }
}
