//! Adopting descriptors a child was handed at fixed numbers.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};

/// Descriptor numbers already adopted (bit n = descriptor n), so that no
/// number is ever owned twice.
static TAKEN: AtomicU64 = AtomicU64::new(0);

/// Errors adopting an inherited descriptor.
#[derive(Debug, thiserror::Error)]
pub enum InheritError {
    /// Only descriptors 3..=63 can be inherited this way.
    #[error("descriptor {0} is outside the inheritable range 3..=63")]
    OutOfRange(RawFd),
    /// The descriptor was already adopted by this process.
    #[error("descriptor {0} was already taken")]
    AlreadyTaken(RawFd),
    /// Nothing is open at that number.
    #[error("descriptor {0} is not open")]
    NotOpen(RawFd, #[source] nix::Error),
}

/// Takes ownership of descriptor `fd`, which the parent placed there at
/// spawn (see [`crate::prepare_child`]) or systemd passed (LISTEN_FDS). The
/// descriptor is made close-on-exec.
pub fn inherited_fd(fd: RawFd) -> Result<OwnedFd, InheritError> {
    if !(3..=63).contains(&fd) {
        return Err(InheritError::OutOfRange(fd));
    }
    let bit = 1u64 << fd;
    if TAKEN.fetch_or(bit, Ordering::SeqCst) & bit != 0 {
        return Err(InheritError::AlreadyTaken(fd));
    }
    // SAFETY: F_GETFD only queries flags; it cannot affect memory safety and
    // tells us whether `fd` is open.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let flags = fcntl(borrowed, FcntlArg::F_GETFD).map_err(|e| InheritError::NotOpen(fd, e))?;
    let mut flags = FdFlag::from_bits_truncate(flags);
    flags.insert(FdFlag::FD_CLOEXEC);
    fcntl(borrowed, FcntlArg::F_SETFD(flags)).map_err(|e| InheritError::NotOpen(fd, e))?;
    // SAFETY: `fd` is open (checked above) and, by the TAKEN bitmap, adopted
    // exactly once in this process; nothing else in spicebox closes raw
    // descriptor numbers it does not own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
