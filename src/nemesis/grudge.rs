//! Partitions as grudges, after Jepsen's `nemesis.clj`: for every node, the peers whose
//! packets it drops on arrival. Pure; `net` turns a grudge into rules.

use std::collections::{BTreeMap, BTreeSet};

/// Whose packets a node drops.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Peer {
    /// Another node of the cluster.
    Node(String),
    /// The harness's clients, which arrive from the network's gateway.
    Clients,
}

/// Node → the peers whose packets it drops. Nodes that drop nothing are absent.
pub(crate) type Grudge = BTreeMap<String, BTreeSet<Peer>>;

/// Every node drops every node of the other components: no traffic crosses between
/// components, in either direction.
pub(crate) fn complete(components: &[Vec<String>]) -> Grudge {
    let mut grudge = Grudge::new();
    for (i, side) in components.iter().enumerate() {
        for (j, other) in components.iter().enumerate() {
            if i == j {
                continue;
            }
            for node in side {
                let peers = grudge.entry(node.clone()).or_default();
                peers.extend(other.iter().cloned().map(Peer::Node));
            }
        }
    }
    grudge.retain(|_, peers| !peers.is_empty());
    grudge
}

/// `nodes` split in two halves, the first the smaller.
pub(crate) fn halves(nodes: &[String]) -> Vec<Vec<String>> {
    let (a, b) = nodes.split_at(nodes.len() / 2);
    vec![a.to_vec(), b.to_vec()]
}

/// Jepsen's bridge: the middle node of `nodes` talks to both halves, which cannot talk
/// to each other. Needs at least three nodes.
pub(crate) fn bridge(nodes: &[String]) -> Grudge {
    let middle = nodes.len() / 2;
    let left = nodes[..middle].to_vec();
    let right = nodes[middle + 1..].to_vec();
    complete(&[left, right])
}

/// Each of `to` drops what each of `from` sends; the other direction passes.
pub(crate) fn one_way(from: &[String], to: &[String]) -> Grudge {
    let mut grudge = Grudge::new();
    for dst in to {
        let peers: BTreeSet<Peer> =
            from.iter().filter(|src| *src != dst).cloned().map(Peer::Node).collect();
        if !peers.is_empty() {
            grudge.insert(dst.clone(), peers);
        }
    }
    grudge
}

/// Each of `nodes` drops the harness's clients.
pub(crate) fn clients(nodes: &[String]) -> Grudge {
    nodes.iter().map(|n| (n.clone(), BTreeSet::from([Peer::Clients]))).collect()
}

/// The (source, destination) pairs a grudge cuts: packets from source to destination
/// are dropped.
pub(crate) fn cut_pairs(grudge: &Grudge) -> Vec<(Peer, String)> {
    grudge
        .iter()
        .flat_map(|(dst, peers)| peers.iter().map(move |p| (p.clone(), dst.clone())))
        .collect()
}

/// The nodes to take off the network when rules cannot be used: enough that every cut
/// pair loses a node, greediest first. Coarser than the grudge: a disconnected node
/// loses every peer and the clients too.
pub(crate) fn disconnect_cover(grudge: &Grudge) -> Vec<String> {
    let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
    for (src, dst) in cut_pairs(grudge) {
        let src = match src {
            Peer::Node(n) => n,
            Peer::Clients => dst.clone(),
        };
        pairs.insert((src, dst));
    }
    let mut chosen = Vec::new();
    while !pairs.is_empty() {
        let mut counts: BTreeMap<&String, usize> = BTreeMap::new();
        for (a, b) in &pairs {
            *counts.entry(a).or_default() += 1;
            if a != b {
                *counts.entry(b).or_default() += 1;
            }
        }
        let best = counts.iter().max_by_key(|&(n, c)| (*c, std::cmp::Reverse(*n)));
        let best = best.map(|(n, _)| (*n).clone()).expect("pairs is not empty");
        pairs.retain(|(a, b)| *a != best && *b != best);
        chosen.push(best);
    }
    chosen.sort();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(ns: &[&str]) -> Vec<String> {
        ns.iter().map(|s| s.to_string()).collect()
    }

    fn peers(ns: &[&str]) -> BTreeSet<Peer> {
        ns.iter().map(|s| Peer::Node(s.to_string())).collect()
    }

    #[test]
    fn cutting_the_replicas_from_the_master_leaves_them_together() {
        let grudge = complete(&[names(&["m"]), names(&["r1", "r2"])]);
        assert_eq!(grudge["m"], peers(&["r1", "r2"]));
        assert_eq!(grudge["r1"], peers(&["m"]));
        assert_eq!(grudge["r2"], peers(&["m"]));
        assert_eq!(cut_pairs(&grudge).len(), 4);
    }

    #[test]
    fn halves_put_the_smaller_half_first() {
        assert_eq!(halves(&names(&["a", "b", "c"])), [names(&["a"]), names(&["b", "c"])]);
        assert_eq!(halves(&names(&["a", "b", "c", "d"]))[0].len(), 2);
    }

    #[test]
    fn the_bridge_node_keeps_both_halves() {
        let grudge = bridge(&names(&["a", "b", "c", "d", "e"]));
        assert!(!grudge.contains_key("c"), "{grudge:?}");
        assert_eq!(grudge["a"], peers(&["d", "e"]));
        assert_eq!(grudge["e"], peers(&["a", "b"]));
    }

    #[test]
    fn one_way_drops_only_on_the_receiving_side() {
        let grudge = one_way(&names(&["m"]), &names(&["r1", "r2"]));
        assert_eq!(grudge.keys().collect::<Vec<_>>(), ["r1", "r2"]);
        assert_eq!(grudge["r1"], peers(&["m"]));
        assert!(one_way(&names(&["a"]), &names(&["a"])).is_empty());
    }

    #[test]
    fn the_disconnect_cover_touches_every_cut_pair() {
        let grudge = complete(&[names(&["m"]), names(&["r1", "r2"])]);
        assert_eq!(disconnect_cover(&grudge), ["m"]);
        let grudge = complete(&[names(&["a", "b"]), names(&["c", "d"])]);
        let cover = disconnect_cover(&grudge);
        for (src, dst) in cut_pairs(&grudge) {
            let Peer::Node(src) = src else { unreachable!() };
            assert!(cover.contains(&src) || cover.contains(&dst), "{cover:?}");
        }
        assert_eq!(disconnect_cover(&clients(&names(&["postgres"]))), ["postgres"]);
    }
}
