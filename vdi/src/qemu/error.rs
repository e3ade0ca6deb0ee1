//! What can go wrong with the QEMU VM. Any of these ends the current
//! connection (the host then shows the "gone" state and retries), except
//! [`QemuError::BadFrame`], which costs one dropped update: QEMU is
//! trusted to keep running, not to send well-formed pixels.

/// Why the VM cannot be served (now).
#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    /// The D-Bus address is empty or not a D-Bus address.
    #[error("bad D-Bus address {0:?}")]
    Address(String),
    /// Connecting to the bus, or a call on it, failed (no bus, no
    /// `org.qemu` on it, QEMU refused the call).
    #[error("D-Bus: {0}")]
    Bus(#[from] zbus::Error),
    /// The same, as a property read.
    #[error("D-Bus property: {0}")]
    Property(#[from] zbus::fdo::Error),
    /// The bus did not answer in time.
    #[error("no answer from the D-Bus address within {0:?}")]
    Timeout(std::time::Duration),
    /// The socket pair for the listener could not be made.
    #[error("listener socket: {0}")]
    Socket(#[source] std::io::Error),
    /// QEMU's QMP socket could not be reached or read.
    #[error("QMP socket {path}: {source}")]
    QmpSocket {
        /// The socket.
        path: std::path::PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// QEMU answered on its QMP socket, but not as asked.
    #[error("QMP: {0}")]
    Qmp(String),
    /// QEMU took the listener's socket but did not open the D-Bus
    /// connection on it in time.
    #[error("QEMU did not open the listener connection within {0:?}")]
    Handshake(std::time::Duration),
    /// The VM lists no console at all (`ConsoleIDs` is empty).
    #[error("the VM has no console")]
    NoConsole,
    /// The listener connection closed: QEMU exited or dropped us.
    #[error("QEMU closed the display connection")]
    Closed,
    /// QEMU sent pixels spicebox cannot use; that update is dropped.
    #[error("unusable frame from QEMU: {0}")]
    BadFrame(String),
}
