//! What can go wrong with the X display. Any of these ends the current
//! connection (the host then shows the "gone" state and retries), except a
//! [`X11Error::Refused`] capture or LED read, which the session absorbs: a
//! request racing a screen resize is refused, not fatal.

use x11rb::errors::{ConnectError, ConnectionError, ReplyError, ReplyOrIdError};

/// Why the X display cannot be served (now).
#[derive(Debug, thiserror::Error)]
pub enum X11Error {
    /// Connecting failed: no such display, refused, bad authorisation.
    #[error("cannot connect: {0}")]
    Connect(#[from] ConnectError),
    /// The connection broke (the X server exited or closed it).
    #[error("connection lost: {0}")]
    Lost(#[from] ConnectionError),
    /// The server answered a request with an error.
    #[error("the X server refused a request: {0:?}")]
    Refused(x11rb::x11_utils::X11Error),
    /// The server ran out of resource ids for this client.
    #[error("no free X resource ids")]
    IdsExhausted,
    /// An extension spicebox cannot do without is missing.
    #[error("the X server lacks the {0} extension")]
    MissingExtension(&'static str),
    /// The root window's pixels are in a layout spicebox does not convert.
    #[error("unsupported pixel format: {0}")]
    UnsupportedFormat(String),
    /// The shared-memory segment for MIT-SHM could not be made or read.
    #[error("MIT-SHM segment: {0}")]
    Segment(#[source] std::io::Error),
}

impl From<ReplyError> for X11Error {
    fn from(e: ReplyError) -> Self {
        match e {
            ReplyError::ConnectionError(e) => X11Error::Lost(e),
            ReplyError::X11Error(e) => X11Error::Refused(e),
        }
    }
}

impl From<ReplyOrIdError> for X11Error {
    fn from(e: ReplyOrIdError) -> Self {
        match e {
            ReplyOrIdError::ConnectionError(e) => X11Error::Lost(e),
            ReplyOrIdError::X11Error(e) => X11Error::Refused(e),
            ReplyOrIdError::IdsExhausted => X11Error::IdsExhausted,
        }
    }
}
