//! `hq worker deploy-ssh [--show-output] HOSTFILE [WORKER-START-ARGS...]`: starts a worker on
//! every host of a file through `ssh` and waits for all of them.
//!
//! Each line of HOSTFILE is `host` or `host:port` (blank lines and `#` comments are skipped).
//! For each, `ssh <host> -t -t [-p <port>] -- <this hq binary> worker start <args>` runs; the
//! trailing arguments are checked as `hq worker start` flags first. As in the reference, global
//! options (`--server-dir`, ...) are not forwarded: the remote workers use their own default
//! server directory (or `HQ_SERVER_DIR` of the remote shell).

use super::worker::StartArgs;
use super::{CliError, CliResult};
use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

/// `hq worker start`'s flags alone, to check the trailing arguments.
#[derive(Parser, Debug)]
struct StartCheck {
    #[command(flatten)]
    _args: StartArgs,
}

#[derive(clap::Args, Debug)]
pub struct DeploySshArgs {
    /// Print what the remote workers write (prefixed with `[host]`); discarded otherwise
    #[arg(long)]
    pub show_output: bool,
    /// File with one `host` or `host:port` per line
    pub hostfile: PathBuf,
    /// Flags for `hq worker start` on every host
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub worker_args: Vec<String>,
}

/// One line of the host file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub port: Option<u16>,
}

/// Parses the host file's text; errors name the line.
pub fn parse_hostfile(path: &Path, text: &str) -> Result<Vec<Host>, CliError> {
    let mut hosts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: &str| {
            CliError::Usage(format!(
                "{}:{}: {what} in `{line}`; write `host` or `host:port`",
                path.display(),
                i + 1
            ))
        };
        let host = match line.rsplit_once(':') {
            Some((name, port)) => Host {
                name: name.to_string(),
                port: Some(port.parse().map_err(|_| bad("invalid port"))?),
            },
            None => Host {
                name: line.to_string(),
                port: None,
            },
        };
        if host.name.is_empty() || host.name.contains(char::is_whitespace) {
            return Err(bad("invalid host name"));
        }
        hosts.push(host);
    }
    if hosts.is_empty() {
        return Err(CliError::Usage(format!(
            "{}: no hosts; write one `host` or `host:port` per line",
            path.display()
        )));
    }
    Ok(hosts)
}

/// The `ssh` arguments for one host.
pub fn ssh_args(host: &Host, hq: &str, worker_args: &[String]) -> Vec<String> {
    let mut args = vec![host.name.clone(), "-t".into(), "-t".into()];
    if let Some(port) = host.port {
        args.extend(["-p".into(), port.to_string()]);
    }
    args.extend(["--".into(), hq.into(), "worker".into(), "start".into()]);
    args.extend(worker_args.iter().cloned());
    args
}

pub async fn run(args: DeploySshArgs) -> CliResult {
    // Refuse flags the remote `hq worker start` would refuse, before connecting anywhere.
    let mut check = vec!["hq worker start".to_string()];
    check.extend(args.worker_args.iter().cloned());
    if let Err(e) = StartCheck::try_parse_from(&check) {
        return Err(CliError::Usage(format!(
            "invalid worker arguments for `deploy-ssh`: {}",
            e.render().to_string().trim()
        )));
    }
    let text = std::fs::read_to_string(&args.hostfile).map_err(|e| {
        CliError::Runtime(format!(
            "cannot read the host file {}: {e}",
            args.hostfile.display()
        ))
    })?;
    let hosts = parse_hostfile(&args.hostfile, &text)?;
    let hq = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "hq".into());
    let mut running = tokio::task::JoinSet::new();
    for host in hosts {
        let mut cmd = Command::new("ssh");
        cmd.args(ssh_args(&host, &hq, &args.worker_args))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if args.show_output {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        } else {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| CliError::Runtime(format!("cannot start `ssh`: {e}")))?;
        let echo = |stream: Option<Box<dyn AsyncRead + Unpin + Send>>, name: String| {
            stream.map(|s| tokio::spawn(echo_lines(s, name)))
        };
        let out = echo(
            child.stdout.take().map(|s| Box::new(s) as _),
            host.name.clone(),
        );
        let err = echo(
            child.stderr.take().map(|s| Box::new(s) as _),
            host.name.clone(),
        );
        running.spawn(async move {
            let status = child.wait().await;
            for task in [out, err].into_iter().flatten() {
                let _ = task.await;
            }
            (host.name, status)
        });
    }
    let mut failures = Vec::new();
    loop {
        tokio::select! {
            next = running.join_next() => match next {
                None => break,
                Some(Ok((name, Ok(status)))) if !status.success() => {
                    let code = status.code().map_or("a signal".into(), |c| format!("code {c}"));
                    log::error!("Worker at {name} exited with {code}");
                    failures.push(format!("Worker exited with {code} (host {name})"));
                }
                Some(Ok((name, Err(e)))) => failures.push(format!("Worker at {name} failed: {e}")),
                Some(_) => {}
            },
            _ = tokio::signal::ctrl_c() => {
                // Dropping the set kills every ssh process (kill_on_drop).
                running.shutdown().await;
                return Err(CliError::Runtime("interrupted; the ssh processes were stopped".into()));
            }
        }
    }
    match failures.is_empty() {
        true => Ok(()),
        false => Err(CliError::Runtime(failures.join("\n"))),
    }
}

/// Prints each line of a remote stream as `[host] line`.
async fn echo_lines(stream: Box<dyn AsyncRead + Unpin + Send>, host: String) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        println!("[{host}] {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_lines_with_and_without_ports() {
        let path = Path::new("nodes");
        let hosts = parse_hostfile(path, "cn1\n\n# spare\ncn2:2222\n").unwrap();
        assert_eq!(
            hosts,
            vec![
                Host {
                    name: "cn1".into(),
                    port: None
                },
                Host {
                    name: "cn2".into(),
                    port: Some(2222)
                },
            ]
        );
        let err = parse_hostfile(path, "cn1\ncn2:x\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("nodes:2: invalid port"), "{err}");
        assert!(parse_hostfile(path, "\n# none\n").is_err());
    }

    #[test]
    fn ssh_command_line() {
        let host = Host {
            name: "cn2".into(),
            port: Some(1234),
        };
        assert_eq!(
            ssh_args(&host, "/opt/hq", &["--cpus".into(), "4".into()]),
            ["cn2", "-t", "-t", "-p", "1234", "--", "/opt/hq", "worker", "start", "--cpus", "4"]
        );
    }
}
