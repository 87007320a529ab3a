//! Preflight: whether every host can run what a scenario asks, checked before anything
//! changes on any host. Each problem is one line naming the host, the missing piece and
//! what to do.

use super::commands::quote;
use super::inventory::{Host, Role};
use super::remote::{Remote, describe};
use crate::nemesis::NodeNeeds;

/// Every problem of `remote`'s host for `needs`; `start` is its role's start command.
pub(super) async fn check(remote: &Remote, needs: &NodeNeeds, start: &str) -> Vec<String> {
    let host = &remote.host;
    let name = describe(host);
    let mut problems = Vec::new();
    if needs.nodes && !host.allow_faults {
        problems.push(format!(
            "{name}: faults are not allowed: set `allow_faults = true` in its [[hosts]] entry if \
             faults may touch it"
        ));
    }
    match root(remote).await {
        Ok(()) => {}
        Err(problem) => {
            problems.push(format!("{name}: {problem}"));
            return problems;
        }
    }
    if needs.iptables
        && let Some(why) = fails(remote, "iptables -w -S > /dev/null").await
    {
        problems.push(format!(
            "{name}: `iptables -w -S` fails ({why}): install iptables, which partitions use"
        ));
    }
    if needs.netem {
        let i = quote(&host.interface);
        let script =
            format!("tc qdisc add dev {i} root netem delay 1ms && tc qdisc del dev {i} root");
        if let Some(why) = fails(remote, &script).await {
            problems.push(format!(
                "{name}: cannot add a netem qdisc on {} ({why}): install iproute2 and the \
                 sch_netem module, or set `interface` to the host's interface",
                host.interface
            ));
        }
    }
    problems.extend(missing_tools(remote, start).await.into_iter().map(|p| format!("{name}: {p}")));
    problems
}

/// Whether commands can run as root on the host, or what to do.
async fn root(remote: &Remote) -> Result<(), String> {
    let host = &remote.host;
    let user = host.user.as_deref().unwrap_or("the SSH user");
    let script = if host.sudo { "sudo -n true" } else { "[ \"$(id -u)\" = 0 ]" };
    match remote.as_user(script).await {
        Ok(out) if out.success() => Ok(()),
        Ok(out) if host.sudo => Err(format!(
            "`sudo -n true` fails for {user} ({}): give {user} passwordless sudo (NOPASSWD), or \
             log in as root with `sudo = false`",
            out.stderr.trim()
        )),
        Ok(_) => Err(format!(
            "{user} is not root and `sudo = false`: set `sudo = true` (passwordless sudo) or \
             log in as root"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Why `script` fails as root, or `None` when it works.
async fn fails(remote: &Remote, script: &str) -> Option<String> {
    match remote.run(script).await {
        Ok(out) if out.success() => None,
        Ok(out) => Some(format!("exit {}: {}", out.code, out.stderr.trim())),
        Err(e) => Some(e.to_string()),
    }
}

/// The tools the nemesis runs on the host, and the program of its role's `start`, that
/// root cannot find.
async fn missing_tools(remote: &Remote, start: &str) -> Vec<String> {
    let tools = tools(&remote.host);
    let program = program(start);
    let mut all: Vec<&str> = tools.to_vec();
    all.extend(program.as_deref());
    let script = format!(
        "for t in {}; do command -v \"$t\" > /dev/null || echo \"$t\"; done",
        all.iter().map(|t| quote(t)).collect::<Vec<_>>().join(" ")
    );
    let out = match remote.run(&script).await {
        Ok(out) => out,
        Err(e) => return vec![e.to_string()],
    };
    out.stdout
        .lines()
        .map(|missing| {
            if Some(missing) == program.as_deref() && !tools.contains(&missing) {
                format!(
                    "`{missing}` (the program of [roles.{}] start) is not found: install it or \
                     fix `start`",
                    remote.host.role.key()
                )
            } else {
                format!("`{missing}` is missing: install it (the nemesis runs it on the host)")
            }
        })
        .collect()
}

/// The tools the nemesis runs on a host of this role.
fn tools(host: &Host) -> &'static [&'static str] {
    match host.role {
        Role::Redis | Role::Sentinel => &["bash", "timeout", "redis-cli"],
        Role::Postgres => &["bash", "timeout", "psql"],
    }
}

/// The program a start command line runs (past `env` and its `NAME=value` words).
fn program(start: &str) -> Option<String> {
    let words = shlex::split(start)?;
    words.into_iter().find(|w| w != "env" && !w.contains('='))
}

#[cfg(test)]
mod tests {
    use super::program;

    #[test]
    fn the_program_of_a_start_line_skips_env_and_its_variables() {
        assert_eq!(program("redis-server /etc/r.conf").as_deref(), Some("redis-server"));
        assert_eq!(
            program("env FAULTLINE_PG_PASSWORD=x /usr/local/bin/faultline-postgres").as_deref(),
            Some("/usr/local/bin/faultline-postgres")
        );
        assert_eq!(program(""), None);
    }
}
