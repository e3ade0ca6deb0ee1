//! Making the connected socket pairs and wrapping them in `interprocess`
//! streams, synchronous (workers, host) or tokio (supervisor).

use std::io;
use std::os::fd::OwnedFd;

use interprocess::os::unix::uds_local_socket as uds;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use std::sync::Arc;

use crate::frame::{AsyncReceiver, AsyncSender, SyncReceiver, SyncSender};

/// A connected pair of local stream sockets, both close-on-exec. The
/// supervisor keeps one end and hands the other to a child at spawn time.
pub fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(io::Error::from)
}

/// Wraps an inherited socket for a blocking reader thread and writer.
pub fn split_sync<Tx, Rx>(fd: OwnedFd) -> (SyncSender<Tx>, SyncReceiver<Rx>) {
    let stream = Arc::new(uds::Stream::from(fd));
    (SyncSender::new(stream.clone()), SyncReceiver::new(stream))
}

/// Wraps the supervisor's end for tokio. Must run inside a tokio runtime.
pub fn split_async<Tx, Rx>(fd: OwnedFd) -> io::Result<(AsyncSender<Tx>, AsyncReceiver<Rx>)> {
    // tokio's reactor needs a non-blocking descriptor.
    let std_stream = std::os::unix::net::UnixStream::from(fd);
    std_stream.set_nonblocking(true)?;
    let fd = OwnedFd::from(std_stream);
    let stream = Arc::new(uds::tokio::Stream::try_from(fd)?);
    Ok((AsyncSender::new(stream.clone()), AsyncReceiver::new(stream)))
}
