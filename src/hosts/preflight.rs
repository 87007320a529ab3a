//! Preflight: whether every host can run what a scenario asks, checked before anything
//! changes on any host. Each problem is one line naming the host, the missing piece and
//! what to do.

use super::commands::{BASE, quote};
use super::inventory::{Host, Role, RoleSpec};
use super::remote::{Remote, describe};
use crate::nemesis::NodeNeeds;

/// Every problem of `remote`'s host for `needs`; `role` is how its role runs.
pub(super) async fn check(remote: &Remote, needs: &NodeNeeds, role: &RoleSpec) -> Vec<String> {
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
    let found = missing_tools(remote, &role.start).await;
    problems.extend(found.into_iter().map(|p| format!("{name}: {p}")));
    if let Some(problem) = occupied(remote).await {
        problems.push(format!("{name}: {problem}"));
    }
    if let Some(problem) = foreign_config(remote, role).await {
        problems.push(format!("{name}: {problem}"));
    }
    problems
}

/// The script that prints `listening` when something accepts connections on
/// 127.0.0.1:`port` (bash's /dev/tcp, given a second).
fn listening(port: u16) -> String {
    format!("timeout 1 bash -c '< /dev/tcp/127.0.0.1/{port}' 2>/dev/null && echo listening; exit 0")
}

/// What listens on the role's port already, if something does: it would answer for the
/// run's server.
async fn occupied(remote: &Remote) -> Option<String> {
    let port = crate::hosts::ssh::port(remote.host.role);
    match remote.run(&listening(port)).await {
        Ok(out) if out.stdout.trim() == "listening" => Some(format!(
            "something already listens on port {port}, where faultline starts [roles.{}]: an \
             orphaned server would answer for the run; stop it, or run `faultline clean --hosts` \
             if a faultline run left it",
            remote.host.role.key()
        )),
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

/// The script that prints `foreign` when `config` exists and no run under `base` (the
/// state base) lists it in its `files`.
fn foreign(config: &str, base: &str) -> String {
    let c = quote(config);
    format!(
        "[ -e {c} ] || exit 0\nfor f in {base}/*/files; do [ -f \"$f\" ] && grep -qxF {c} \"$f\" && exit 0; done\n\
         echo foreign\n"
    )
}

/// Whether the role's configuration file is someone else's: faultline would overwrite
/// it, then delete it at teardown.
async fn foreign_config(remote: &Remote, role: &RoleSpec) -> Option<String> {
    let config = role.config.to_string_lossy();
    match remote.run(&foreign(&config, BASE)).await {
        Ok(out) if out.stdout.trim() == "foreign" => Some(format!(
            "{config} exists and is not faultline's: point [roles.{}] config at a file of \
             faultline's own",
            remote.host.role.key()
        )),
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
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
                format!("`{missing}` is missing: install it (faultline runs it on the host)")
            }
        })
        .collect()
}

/// The tools faultline and its nemesis run on a host of this role.
fn tools(host: &Host) -> &'static [&'static str] {
    match host.role {
        Role::Redis | Role::Sentinel => &["bash", "timeout", "flock", "redis-cli"],
        Role::Postgres => &["bash", "timeout", "flock", "psql"],
    }
}

/// The program a start command line runs (past `env` and its `NAME=value` words).
fn program(start: &str) -> Option<String> {
    let words = shlex::split(start)?;
    words.into_iter().find(|w| w != "env" && !w.contains('='))
}

#[cfg(test)]
mod tests {
    use super::{foreign, listening, program};
    use std::process::Command;

    fn sh(script: &str) -> String {
        let out = Command::new("sh").arg("-c").arg(script).output().expect("sh");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn a_port_something_listens_on_is_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        assert_eq!(sh(&listening(port)), "listening\n");
        drop(listener);
        assert_eq!(sh(&listening(port)), "", "nothing listens once it is closed");
    }

    #[test]
    fn a_config_file_is_foreign_when_it_exists_and_no_run_lists_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path().join("state");
        std::fs::create_dir_all(base.join("run-1")).expect("run dir");
        let base = base.to_str().expect("utf-8");
        let file = tmp.path().join("redis.conf");
        let path = file.to_str().expect("utf-8");
        assert_eq!(sh(&foreign(path, base)), "", "a file that does not exist is faultline's");
        std::fs::write(&file, "port 6379\n").expect("write");
        assert_eq!(sh(&foreign(path, base)), "foreign\n");
        std::fs::write(format!("{base}/run-1/files"), format!("/etc/other\n{path}\n"))
            .expect("files");
        assert_eq!(sh(&foreign(path, base)), "", "a run of faultline's wrote it");
    }

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
