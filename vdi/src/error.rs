//! The one error type of this crate.

use std::path::PathBuf;

use spicebox_ipc::IpcError;
use spicebox_shm::ShmError;

/// Everything that can stop the demo host.
#[derive(Debug, thiserror::Error)]
pub enum VdiError {
    /// The requested screen size is outside what the demo supports.
    #[error("screen size {width}x{height} is outside 320x200..=4096x2160")]
    InvalidSize {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// The requested frame rate is outside what the demo supports.
    #[error("frame rate {0} is outside 1..=240")]
    InvalidFps(u32),
    /// Writing to the shared region failed.
    #[error("shared memory")]
    Shm(#[from] ShmError),
    /// The link to the supervisor failed (other than by closing).
    #[error("ipc with the supervisor")]
    Ipc(#[from] IpcError),
    /// The input log could not be opened or written.
    #[error("input log {path}")]
    InputLog {
        /// The log file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// A host was given no display to draw on.
    #[error("no display to serve")]
    NoDisplay,
    /// The input thread could not be started.
    #[error("starting the input thread")]
    Thread(#[source] std::io::Error),
    /// The async runtime of the QEMU host could not be started.
    #[error("starting the async runtime")]
    Runtime(#[source] std::io::Error),
    /// The input thread panicked.
    #[error("the input thread panicked")]
    InputThreadPanicked,
    /// The requested test scene does not exist or does not fit the screen.
    #[error(transparent)]
    Scene(#[from] crate::scripted::SceneError),
}
