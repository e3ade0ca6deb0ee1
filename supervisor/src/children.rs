//! Starting the supervisor's own binary in a child role, with its
//! descriptors at fixed numbers.

use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;

use anyhow::Context;

/// Where a child finds its IPC socket.
pub const IPC_FD: RawFd = 3;
/// Where a child finds the shared framebuffer region.
pub const SHM_FD: RawFd = 4;
/// Where a child finds the damage doorbell.
pub const DOORBELL_FD: RawFd = 5;

/// Where the host finds display `index`'s region and doorbell: display 0
/// at [`SHM_FD`] and [`DOORBELL_FD`], the others in pairs after them.
pub fn display_fds(index: usize) -> (RawFd, RawFd) {
    if index == 0 {
        return (SHM_FD, DOORBELL_FD);
    }
    // `--displays` is at most MAX_DISPLAYS, so this stays small.
    let base = DOORBELL_FD + 1 + 2 * (index as RawFd - 1);
    (base, base + 1)
}

/// Spawns `spicebox <args>` with `fds` placed at their target numbers. The
/// child runs the supervisor's own image (`/proc/self/exe`, held open since
/// the first spawn), so it is the same build even if the file on disk was
/// replaced or removed since; argv\[0\] stays the path the supervisor was
/// started from.
pub fn spawn_self(
    args: &[String],
    fds: Vec<(OwnedFd, RawFd)>,
) -> anyhow::Result<tokio::process::Child> {
    // Both are taken at the first spawn (at start-up) and kept.
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    let path = PATH
        .get_or_init(|| std::env::current_exe().ok())
        .clone()
        .context("cannot find the spicebox executable")?;
    let image = spicebox_sandbox::own_image().unwrap_or_else(|| path.clone());
    let mut cmd = std::process::Command::new(image);
    cmd.arg0(&path);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::MAX_DISPLAYS;

    #[test]
    fn every_display_gets_its_own_descriptors() {
        assert_eq!(display_fds(0), (SHM_FD, DOORBELL_FD));
        let mut seen = vec![IPC_FD];
        for index in 0..usize::from(MAX_DISPLAYS) {
            let (shm, bell) = display_fds(index);
            assert!(!seen.contains(&shm) && !seen.contains(&bell), "{index}");
            seen.extend([shm, bell]);
        }
    }
}
