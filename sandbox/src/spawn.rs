//! Preparing a child's command so that it receives exactly the descriptors it
//! is meant to have, at fixed numbers, and dies with its parent.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use nix::fcntl::{fcntl, FcntlArg};

/// The lowest descriptor number used for the parent-side copies. Targets are
/// small numbers (3, 4, 5…); copies live above this so that placing one
/// target can never overwrite another source.
const STAGING_FLOOR: RawFd = 64;

/// Errors while preparing a child.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// A descriptor could not be duplicated for the child.
    #[error("cannot stage descriptor for child")]
    Dup(#[source] nix::Error),
    /// A target descriptor number is reserved (stdio) or used twice.
    #[error("descriptor target {0} is invalid")]
    BadTarget(RawFd),
}

/// The running program's executable, opened the first time it is asked for
/// and kept open above [`STAGING_FLOOR`] (so that no child's descriptor
/// target can cover it between fork and exec).
static OWN_IMAGE: OnceLock<Option<OwnedFd>> = OnceLock::new();

/// A path that executes this very program image: `/proc/self/fd/N` for a
/// descriptor opened on `/proc/self/exe` at the first call. A child started
/// through it is the same build as its parent even after the file on disk
/// was replaced (an upgrade, a rebuild) or removed. Call it once early, so
/// that the image is pinned before anything can replace it. `None` when
/// /proc cannot be read: callers fall back to [`std::env::current_exe`].
pub fn own_image() -> Option<PathBuf> {
    let fd = OWN_IMAGE.get_or_init(|| {
        let file = std::fs::File::open("/proc/self/exe").ok()?;
        let raw = fcntl(file.as_fd(), FcntlArg::F_DUPFD_CLOEXEC(STAGING_FLOOR)).ok()?;
        // SAFETY: `raw` was just returned by F_DUPFD_CLOEXEC and is owned
        // by nobody else.
        Some(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
    });
    fd.as_ref()
        .map(|fd| PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())))
}

/// Parent-side copies of the descriptors a prepared command hands over. Keep
/// it alive until the command has been spawned, then drop it.
#[must_use = "the descriptors must stay open until the child is spawned"]
pub struct StagedFds(#[allow(dead_code)] Vec<OwnedFd>);

/// Arranges for `cmd`'s child to find each `(fd, target)` at `target`, and
/// to be killed when the parent dies, so that no worker outlives its
/// supervisor. Every other descriptor of the parent is close-on-exec.
pub fn prepare_child(
    cmd: &mut Command,
    fds: Vec<(OwnedFd, RawFd)>,
) -> Result<StagedFds, SpawnError> {
    let mut staged: Vec<(OwnedFd, RawFd)> = Vec::with_capacity(fds.len());
    for (fd, target) in fds {
        if target < 3 || staged.iter().any(|(_, t)| *t == target) {
            return Err(SpawnError::BadTarget(target));
        }
        // F_DUPFD_CLOEXEC: the copy stays close-on-exec in the parent, so
        // children spawned concurrently by other threads never inherit it.
        let raw =
            fcntl(fd.as_fd(), FcntlArg::F_DUPFD_CLOEXEC(STAGING_FLOOR)).map_err(SpawnError::Dup)?;
        // SAFETY: `raw` was just returned by F_DUPFD_CLOEXEC and is owned by
        // nobody else.
        let copy = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        staged.push((copy, target));
    }
    let plan: Vec<(RawFd, RawFd)> = staged.iter().map(|(fd, t)| (fd.as_raw_fd(), *t)).collect();
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed. It calls dup2 and prctl (raw
    // syscalls) and allocates nothing: `plan` was built before the fork.
    unsafe {
        cmd.pre_exec(move || {
            for &(src, target) in &plan {
                // dup2 leaves the new descriptor without close-on-exec.
                if nix::libc::dup2(src, target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if nix::libc::prctl(
                nix::libc::PR_SET_PDEATHSIG,
                nix::libc::SIGKILL as nix::libc::c_ulong,
                0,
                0,
                0,
            ) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(StagedFds(staged.into_iter().map(|(fd, _)| fd).collect()))
}
