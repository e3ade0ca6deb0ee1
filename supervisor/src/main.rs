//! `spicebox`: the supervisor binary, and the same binary re-executed as a
//! channel worker or as the demo host.

mod channel_io;
mod children;
mod cli;
mod config;
mod control;
mod ctl;
mod host;
mod link;
mod main_channel;
mod roles;
mod routed;
mod server;
mod sessions;
mod ticket;
mod workers;

use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};

fn init_logging(role: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SPICEBOX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    tracing::debug!(role, pid = std::process::id(), "process start");
}

/// Sockets passed by systemd socket activation (LISTEN_FDS / LISTEN_PID).
/// Must run before any thread starts: it clears the variables so that no
/// child mistakes them for its own.
fn take_activated_sockets() -> anyhow::Result<Vec<std::net::TcpListener>> {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or(0);
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    if !pid_ok || count <= 0 {
        return Ok(Vec::new());
    }
    // sd_listen_fds(3): descriptors start at 3.
    (0..count.min(16))
        .map(|i| {
            let fd = spicebox_sandbox::inherited_fd(3 + i)
                .with_context(|| format!("socket-activation descriptor {}", 3 + i))?;
            Ok(std::net::TcpListener::from(fd))
        })
        .collect()
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Some(path) = cli.serve.config.clone() {
        if let Err(error) = config::apply(&mut cli.serve, &matches, &path) {
            eprintln!("spicebox: {error:#}");
            return ExitCode::FAILURE;
        }
    }
    let result = match cli.command {
        Some(Command::Ctl(args)) => ctl::run(args),
        Some(Command::Worker(args)) => {
            init_logging(&args.role.clone());
            roles::worker(args)
        }
        Some(Command::Host(args)) => {
            init_logging("host");
            roles::host(args)
        }
        None => {
            init_logging("supervisor");
            take_activated_sockets().and_then(|inherited| {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .context("cannot start the runtime")?;
                rt.block_on(server::serve(cli.serve, inherited))
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("spicebox: {error:#}");
            ExitCode::FAILURE
        }
    }
}
