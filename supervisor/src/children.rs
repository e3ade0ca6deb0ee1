//! Starting the supervisor's own binary in a child role, with its
//! descriptors at fixed numbers.

use std::os::fd::{OwnedFd, RawFd};
use std::process::Stdio;

use anyhow::Context;

/// Where a child finds its IPC socket.
pub const IPC_FD: RawFd = 3;
/// Where a child finds the shared framebuffer region.
pub const SHM_FD: RawFd = 4;
/// Where a child finds the damage doorbell.
pub const DOORBELL_FD: RawFd = 5;

/// Spawns `spicebox <args>` with `fds` placed at their target numbers.
pub fn spawn_self(
    args: &[String],
    fds: Vec<(OwnedFd, RawFd)>,
) -> anyhow::Result<tokio::process::Child> {
    let exe = std::env::current_exe().context("cannot find the spicebox executable")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let staged = spicebox_sandbox::prepare_child(&mut cmd, fds)
        .context("cannot hand descriptors to the child")?;
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start child {args:?}"))?;
    drop(staged);
    Ok(child)
}
