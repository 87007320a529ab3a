//! `partition-service`: the service under test, run as a container on the run's
//! network, cut from stores and from the card gateway.
//!
//! - From a store: the store drops every packet from the service's address, by the
//!   iptables rules of `net` (tagged `faultline-<id>`, so heals, restarts of the store
//!   and the final sweep treat them as any partition's), or, where iptables cannot run
//!   inside containers, by the disconnect fallback, which takes the store off the
//!   network (coarse: the harness's clients lose it too).
//! - From the gateway: the gateway's HTTP face listens on the host, at the network's
//!   bridge gateway, where no container rule can reach. A rule in the service
//!   container's own network namespace, added from the host with `nsenter` (faultline
//!   runs as root), drops the service's packets to the gateway's port. The rule lives
//!   and dies with that namespace: the heal deletes it, and a container that is
//!   restarted, killed or removed (every teardown, `faultline clean`) takes it with it,
//!   so it can never outlive the run. The host's firewall is not touched.
//!
//! Effect: from inside the service's network namespace (`nsenter`, the host's bash), a
//! TCP connection to each cut store's port and to the gateway must fail while the cut
//! holds; the start's effect lists what was seen cut and what stayed open.

use super::NemesisError;
use super::grudge::{Grudge, Peer};
use super::interpreter::Outcome;
use super::net::{self, Cut, PartitionMethod};
use super::observe;
use crate::cluster::Cluster;
use crate::service::SharedService;
use serde_json::json;
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use tokio::process::Command;

/// The fault's name.
const NAME: &str = "partition-service";

/// A service cut in place: what its heal needs.
pub(crate) struct ServiceCut {
    /// The stores' part: rules inside them (or the stores disconnected).
    pub(crate) stores: Cut,
    /// The gateway's part: the rule in the service's namespace, and that namespace's
    /// process.
    gateway: Option<(String, u32)>,
}

/// Where the service and its gateway are, for a cut.
pub(crate) struct Service<'a> {
    pub(crate) service: &'a SharedService,
    pub(crate) gateway: SocketAddr,
}

/// Cuts the service from `stores`, and from the gateway if `gateway`, and probes every
/// cut leg from inside the service.
pub(crate) async fn cut(
    cluster: &Cluster,
    method: &PartitionMethod,
    id: u32,
    target: Service<'_>,
    stores: Vec<String>,
    gateway: bool,
) -> Result<(Outcome, ServiceCut), NemesisError> {
    let (ip, pid) = endpoint(target.service).await?;
    let tag = format!("faultline-{id}");
    let gateway_rule = match gateway {
        true => {
            let rule = gateway_rule(target.gateway, &tag);
            netns_iptables(pid, &["-w", "-A"], &rule).await?;
            Some((rule, pid))
        }
        false => None,
    };
    let cut = cut_stores(cluster, method, &tag, ip, &stores).await;
    let stores_cut = match cut {
        Ok(cut) => cut,
        Err(e) => {
            if let Some((rule, pid)) = &gateway_rule {
                let _ = netns_iptables(*pid, &["-w", "-D"], rule).await;
            }
            return Err(e);
        }
    };
    let mut legs: Vec<(String, SocketAddr)> = Vec::new();
    for store in &stores {
        if let Some(store_ip) = stores_cut.ips.get(store) {
            legs.push((store.clone(), observe::service_addr(cluster, store, *store_ip)));
        }
    }
    if gateway {
        legs.push((super::fault::GATEWAY.to_string(), target.gateway));
    }
    let open = probe(pid, &legs).await?;
    let (open, seen_cut): (Vec<_>, Vec<_>) = legs
        .iter()
        .zip(open)
        .map(|((name, _), o)| (format!("service->{name}"), o))
        .partition(|(_, o)| *o);
    let method_name = match method {
        PartitionMethod::Iptables => "iptables",
        PartitionMethod::Disconnect(_) => "disconnect",
    };
    let effect = json!({
        "method": method_name,
        "service": ip.to_string(),
        "rules": match method {
            PartitionMethod::Iptables => stores_cut.grudge.len(),
            PartitionMethod::Disconnect(_) => 0,
        } + usize::from(gateway_rule.is_some()),
        "disconnected": stores_cut.disconnected,
        "cut": seen_cut.iter().map(|p| &p.0).collect::<Vec<_>>(),
        "open": open.iter().map(|p| &p.0).collect::<Vec<_>>(),
    });
    let seen = open.is_empty() && !seen_cut.is_empty();
    let outcome = Outcome::unjudged(effect).judge(seen, "a cut link stayed open");
    Ok((outcome, ServiceCut { stores: stores_cut, gateway: gateway_rule }))
}

/// Undoes a service cut: the stores' rules (or reconnects them) and the gateway rule.
/// Returns the rules left.
pub(crate) async fn heal(
    cluster: &Cluster,
    service: Option<&SharedService>,
    cut: &ServiceCut,
) -> Result<usize, NemesisError> {
    let mut left = net::heal(cluster, &cut.stores).await?;
    if let Some((rule, pid)) = &cut.gateway {
        let now = match service {
            Some(service) => endpoint(service).await.ok().map(|(_, pid)| pid),
            None => None,
        };
        // A service restarted or stopped since has a new namespace, or none: the rule
        // went with the old one.
        if now == Some(*pid) {
            netns_iptables(*pid, &["-w", "-D"], rule).await?;
            let listed = netns(*pid, &["iptables", "-w", "-S", "OUTPUT"]).await?;
            left += listed
                .lines()
                .filter(|l| l.contains(&format!("--comment {} ", cut.stores.tag)))
                .count();
        }
    }
    Ok(left)
}

/// The service's address on the run's network and its pid on this machine.
async fn endpoint(service: &SharedService) -> Result<(IpAddr, u32), NemesisError> {
    let service = service.lock().await;
    match service.container_endpoint().await {
        Some(Ok(endpoint)) => Ok(endpoint),
        Some(Err(e)) => Err(NemesisError::NoTarget(format!("the service's container: {e}"))),
        None => Err(NemesisError::NoTarget(format!(
            "{NAME} cuts the service's container, and this run's service is a process: run it \
             as a container ([sut] image or build)"
        ))),
    }
}

/// Each of `stores` drops the packets of the service at `ip` (or, the fallback, is
/// taken off the network).
async fn cut_stores(
    cluster: &Cluster,
    method: &PartitionMethod,
    tag: &str,
    ip: IpAddr,
    stores: &[String],
) -> Result<Cut, NemesisError> {
    let mut ips = net::addresses(cluster).await?;
    ips.insert(super::fault::SERVICE.to_string(), ip);
    let service = BTreeSet::from([Peer::Node(super::fault::SERVICE.to_string())]);
    let grudge: Grudge = stores
        .iter()
        .filter(|store| ips.contains_key(*store))
        .map(|store| (store.clone(), service.clone()))
        .collect();
    let mut disconnected = Vec::new();
    match method {
        PartitionMethod::Iptables => {
            let bridge = cluster.clients_ip().await?;
            for (store, peers) in &grudge {
                let port = cluster.kind(store)?.port();
                let script = net::rule_script(peers, &ips, &bridge, port, tag);
                net::run_script(cluster, store, script).await?;
            }
        }
        PartitionMethod::Disconnect(_) => {
            for store in grudge.keys() {
                cluster.disconnect(store).await?;
                disconnected.push(store.clone());
            }
        }
    }
    Ok(Cut { tag: tag.to_string(), grudge, disconnected, ips })
}

/// The OUTPUT rule that drops the service's packets to the gateway's HTTP face.
fn gateway_rule(gateway: SocketAddr, tag: &str) -> String {
    format!(
        "OUTPUT -d {} -p tcp --dport {} -m comment --comment {tag} -j DROP",
        gateway.ip(),
        gateway.port()
    )
}

/// `iptables FLAGS RULE` in the network namespace of process `pid`.
async fn netns_iptables(pid: u32, flags: &[&str], rule: &str) -> Result<String, NemesisError> {
    let mut args = vec!["iptables"];
    args.extend_from_slice(flags);
    args.extend(rule.split_whitespace());
    netns(pid, &args).await
}

/// Runs `args` (a program of this machine) in the network namespace of process `pid`.
async fn netns(pid: u32, args: &[&str]) -> Result<String, NemesisError> {
    let target = pid.to_string();
    let out = Command::new("nsenter")
        .args(["-t", &target, "-n", "--"])
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| NemesisError::Unsupported {
            fault: NAME,
            reason: format!("cannot run nsenter (util-linux) on this machine: {e}"),
        })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let reason = format!(
        "`nsenter -t {pid} -n {}` failed ({}): {stderr}; cutting the service from the gateway \
         runs iptables in its container's network namespace, which needs faultline to run as \
         root with iptables installed",
        args.join(" "),
        out.status
    );
    Err(NemesisError::Unsupported { fault: NAME, reason })
}

/// Whether the service can open a TCP connection to each leg, probed from its own
/// network namespace with this machine's bash.
async fn probe(pid: u32, legs: &[(String, SocketAddr)]) -> Result<Vec<bool>, NemesisError> {
    let addrs: Vec<SocketAddr> = legs.iter().map(|(_, addr)| *addr).collect();
    let stdout = netns(pid, &["bash", "-c", &observe::tcp_probe_script(&addrs)]).await?;
    Ok(observe::tcp_probe_results(&stdout, addrs.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_rule_drops_only_the_gateway_port_and_carries_the_fault_tag() {
        let rule = gateway_rule("172.18.0.1:41235".parse().unwrap(), "faultline-3");
        assert_eq!(
            rule,
            "OUTPUT -d 172.18.0.1 -p tcp --dport 41235 -m comment --comment faultline-3 -j DROP"
        );
    }
}
