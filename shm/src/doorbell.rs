//! The eventfd the producer rings after publishing, so the consumer can sleep.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::unistd::{read, write};

use crate::error::ShmError;

/// A wake-up counter shared by producer and consumer.
#[derive(Debug)]
pub struct Doorbell {
    fd: OwnedFd,
}

impl Doorbell {
    /// A new close-on-exec eventfd.
    pub fn new() -> Result<Doorbell, ShmError> {
        let efd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC).map_err(ShmError::sys("eventfd"))?;
        Ok(Doorbell { fd: efd.into() })
    }

    /// Wraps an inherited eventfd.
    pub fn from_fd(fd: OwnedFd) -> Doorbell {
        Doorbell { fd }
    }

    /// Duplicates the descriptor, for handing to another process.
    pub fn try_clone_fd(&self) -> Result<OwnedFd, ShmError> {
        self.fd.try_clone().map_err(|e| ShmError::Sys {
            op: "dup",
            source: e
                .raw_os_error()
                .map_or(Errno::UnknownErrno, Errno::from_raw),
        })
    }

    /// Wakes the waiter; rings before it waits are remembered.
    pub fn ring(&self) -> Result<(), ShmError> {
        loop {
            match write(&self.fd, &1u64.to_ne_bytes()) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                // The counter is saturated on a non-blocking descriptor: the
                // waiter has plenty of wake-ups pending already.
                Err(Errno::EAGAIN) => return Ok(()),
                Err(e) => return Err(ShmError::sys("eventfd write")(e)),
            }
        }
    }

    /// Blocks until rung at least once since the last wait, and resets the
    /// counter.
    pub fn wait(&self) -> Result<(), ShmError> {
        let mut buf = [0u8; 8];
        loop {
            match read(&self.fd, &mut buf) {
                Ok(8) => return Ok(()),
                Ok(n) => return Err(ShmError::ShortDoorbellRead(n)),
                Err(Errno::EINTR) => continue,
                // An inherited descriptor may be non-blocking; sleep in poll.
                Err(Errno::EAGAIN) => self.poll_readable()?,
                Err(e) => return Err(ShmError::sys("eventfd read")(e)),
            }
        }
    }

    fn poll_readable(&self) -> Result<(), ShmError> {
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => Ok(()),
            Err(e) => Err(ShmError::sys("poll")(e)),
        }
    }

    /// The descriptor, for the consumer's own poll loop.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsFd for Doorbell {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
    use std::time::Duration;

    #[test]
    fn rings_before_wait_are_remembered_and_reset() {
        let bell = Doorbell::new().unwrap();
        bell.ring().unwrap();
        bell.ring().unwrap();
        bell.wait().unwrap();
        // The counter is now zero: a non-blocking peek must find nothing.
        let peek = Doorbell::from_fd(bell.try_clone_fd().unwrap());
        fcntl(peek.as_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(read(peek.as_fd(), &mut buf), Err(Errno::EAGAIN));
    }

    #[test]
    fn wait_wakes_on_a_ring_from_another_thread() {
        let bell = Doorbell::new().unwrap();
        let remote = Doorbell::from_fd(bell.try_clone_fd().unwrap());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            remote.ring().unwrap();
        });
        bell.wait().unwrap();
        t.join().unwrap();
    }

    #[test]
    fn descriptors_are_close_on_exec() {
        let bell = Doorbell::new().unwrap();
        let flags = fcntl(bell.as_fd(), FcntlArg::F_GETFD).unwrap();
        assert!(FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC));
        let dup = bell.try_clone_fd().unwrap();
        let flags = fcntl(&dup, FcntlArg::F_GETFD).unwrap();
        assert!(FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC));
    }
}
