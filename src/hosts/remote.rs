//! One host's SSH session: a multiplexed `openssh::Session` (the system's `ssh`, one
//! ControlMaster per host) and the one function every command on the host goes through.
//!
//! [`Remote::run`] runs a script from `commands`/`switch` as root (`sudo -n sh -c …`
//! when the inventory says sudo, `sh -c …` otherwise); [`Remote::exec`] runs an argv
//! the same way; [`Remote::as_user`] runs a script as the SSH user, for the checks that
//! must not need root. Arguments are quoted by openssh (`Command::arg`), once, for the
//! remote login shell.

use super::inventory::Host;
use crate::cluster::ClusterError;
use crate::docker::ExecOutput;
use openssh::{KnownHosts, Session, SessionBuilder};
use std::time::Duration;

/// How long the SSH connection to a host may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A host and its open session.
#[derive(Debug)]
pub struct Remote {
    /// The host.
    pub host: Host,
    session: Session,
}

impl Remote {
    /// Opens the session to `host` (BatchMode: no password prompt).
    pub async fn connect(host: &Host) -> Result<Remote, ClusterError> {
        let mut builder = SessionBuilder::default();
        builder.port(host.port).connect_timeout(CONNECT_TIMEOUT);
        builder.server_alive_interval(Duration::from_secs(5));
        if let Some(user) = &host.user {
            builder.user(user.clone());
        }
        if let Some(key) = &host.key {
            builder.keyfile(key);
        }
        match &host.known_hosts {
            Some(file) => builder.known_hosts_check(KnownHosts::Add).user_known_hosts_file(file),
            None => builder.known_hosts_check(KnownHosts::Strict),
        };
        let session =
            builder.connect(host.address.to_string()).await.map_err(|e| ClusterError::Ssh {
                host: describe(host),
                message: format!(
                    "cannot connect: {}; try `{}` by hand",
                    chain(&e),
                    login_command(host)
                ),
            })?;
        Ok(Remote { host: host.clone(), session })
    }

    /// Runs `script` as root and returns what it did (a non-zero exit is not an error).
    pub async fn run(&self, script: &str) -> Result<ExecOutput, ClusterError> {
        let mut command = self.session.command(if self.host.sudo { "sudo" } else { "sh" });
        if self.host.sudo {
            command.args(["-n", "sh"]);
        }
        command.arg("-c").arg(script);
        self.output(command).await
    }

    /// Runs `script` as root and returns its stdout, or an error with its stderr when it
    /// exits non-zero; `what` says what it was doing, for the message.
    pub async fn check(&self, what: &str, script: &str) -> Result<String, ClusterError> {
        let out = self.run(script).await?;
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(self.error(format!("{what} failed (exit {}): {}", out.code, out.stderr.trim())))
        }
    }

    /// Runs `argv` as root.
    pub async fn exec(&self, argv: &[&str]) -> Result<ExecOutput, ClusterError> {
        let Some((program, args)) = argv.split_first() else {
            return Err(self.error("exec of an empty command".into()));
        };
        let mut command = self.session.command(if self.host.sudo { "sudo" } else { program });
        if self.host.sudo {
            command.args(["-n", program]);
        }
        command.args(args);
        self.output(command).await
    }

    /// Runs `script` as the SSH user, without sudo.
    pub async fn as_user(&self, script: &str) -> Result<ExecOutput, ClusterError> {
        let mut command = self.session.command("sh");
        command.arg("-c").arg(script);
        self.output(command).await
    }

    async fn output(
        &self,
        mut command: openssh::OwningCommand<&Session>,
    ) -> Result<ExecOutput, ClusterError> {
        let out = command.output().await.map_err(|e| {
            self.error(format!("a command failed over SSH: {} (is the host still up?)", chain(&e)))
        })?;
        Ok(ExecOutput {
            code: out.status.code().map_or(-1, i64::from),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// An error naming this host.
    pub fn error(&self, message: String) -> ClusterError {
        ClusterError::Ssh { host: describe(&self.host), message }
    }

    /// Closes the session (its ControlMaster exits).
    pub async fn close(self) -> Result<(), ClusterError> {
        let host = describe(&self.host);
        self.session
            .close()
            .await
            .map_err(|e| ClusterError::Ssh { host, message: format!("closing SSH: {}", chain(&e)) })
    }
}

/// `name (address)`, as messages name a host.
pub fn describe(host: &Host) -> String {
    format!("{} ({})", host.name, host.address)
}

/// The `ssh` command line that logs in to `host` as the backend does.
pub fn login_command(host: &Host) -> String {
    let mut line = String::from("ssh");
    if let Some(key) = &host.key {
        line += &format!(" -i {}", key.display());
    }
    if host.port != 22 {
        line += &format!(" -p {}", host.port);
    }
    match &host.user {
        Some(user) => line + &format!(" {user}@{}", host.address),
        None => line + &format!(" {}", host.address),
    }
}

/// An error and its sources on one line (openssh puts ssh's own words in a source).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text += &format!(": {e}");
        source = e.source();
    }
    text
}
