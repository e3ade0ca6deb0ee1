//! Our end of a connection QEMU opens to an object we serve (a display
//! or audio listener): a socket pair we made, one end handed to QEMU with
//! the registration call, D-Bus spoken on the other with no bus behind it.

use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::error::QemuError;

/// How long QEMU may take to open the connection, counted from before
/// the registration call is sent: that call's own limit plus the
/// handshake, which QEMU runs at once after replying.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Finishes the D-Bus handshake on `ours` within [`HANDSHAKE_TIMEOUT`].
/// We are the client of this link (QEMU authenticates us, EXTERNAL): no
/// Hello, no names. At most `max_queued` calls are read ahead of the one
/// being handled, so when we fall behind QEMU waits on the socket instead
/// of our memory growing (a display call may carry a whole frame).
pub(crate) async fn accept(
    ours: UnixStream,
    max_queued: usize,
) -> Result<zbus::Connection, QemuError> {
    let stream = ours
        .set_nonblocking(true)
        .and_then(|()| tokio::net::UnixStream::from_std(ours))
        .map_err(QemuError::Socket)?;
    let build = zbus::connection::Builder::unix_stream(stream)
        .p2p()
        .max_queued(max_queued)
        .build();
    tokio::time::timeout(HANDSHAKE_TIMEOUT, build)
        .await
        .map_err(|_| QemuError::Handshake(HANDSHAKE_TIMEOUT))?
        .map_err(QemuError::from)
}
