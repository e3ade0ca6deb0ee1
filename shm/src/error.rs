//! The one error type of this crate.

use nix::errno::Errno;

use crate::events::Rect;

/// Everything that can go wrong creating, mapping, writing or reading a region.
#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    /// A system call failed.
    #[error("{op} failed")]
    Sys {
        /// The call that failed, for the log.
        op: &'static str,
        /// The errno it returned.
        #[source]
        source: Errno,
    },
    /// Requested or announced capacities are outside what this crate supports.
    #[error("layout {what} of {value} is outside the supported range")]
    InvalidLayout {
        /// Which capacity.
        what: &'static str,
        /// The offending value.
        value: u64,
    },
    /// The region does not start with our magic number.
    #[error("region has bad magic {0:#018x}")]
    BadMagic(u64),
    /// The region was written by an incompatible layout version.
    #[error("region has unsupported layout version {0}")]
    BadVersion(u32),
    /// A header field disagrees with the layout derived from the capacities.
    #[error("header field {field} is {found}, expected {expected}")]
    HeaderMismatch {
        /// Field name.
        field: &'static str,
        /// Value found in the header.
        found: u64,
        /// Value the capacities imply.
        expected: u64,
    },
    /// The backing file is smaller than the layout needs.
    #[error("region file is {actual} bytes, the layout needs {needed}")]
    FileTooSmall {
        /// Size from fstat.
        actual: u64,
        /// Size the layout needs.
        needed: u64,
    },
    /// The backing file could still be shrunk under our mapping.
    #[error("region file is not sealed against shrinking")]
    NotSealed,
    /// A mode names a pixel format this build does not know.
    #[error("unknown pixel format {0}")]
    UnknownPixelFormat(u32),
    /// A display mode is impossible for this region.
    #[error("invalid mode {width}x{height} with stride {stride}")]
    InvalidMode {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Bytes per row.
        stride: u32,
    },
    /// Damage arrived, or a copy was asked for, before any mode was set.
    #[error("no display mode is set")]
    NoMode,
    /// A rectangle is empty or does not fit inside the current mode.
    #[error("rectangle {rect:?} is empty or outside the {width}x{height} mode")]
    RectOutsideMode {
        /// The rectangle.
        rect: Rect,
        /// Mode width.
        width: u32,
        /// Mode height.
        height: u32,
    },
    /// The producer's source buffer cannot hold the rectangle it names.
    #[error("source of {len} bytes with stride {stride} is too small for {rect:?}")]
    SourceTooSmall {
        /// The rectangle.
        rect: Rect,
        /// Source length in bytes.
        len: usize,
        /// Source stride in bytes.
        stride: usize,
    },
    /// A cursor shape is empty, too large or has its hot spot outside it.
    #[error("invalid cursor {width}x{height} with hot spot {hot_x},{hot_y}")]
    InvalidCursor {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Hot spot column.
        hot_x: u32,
        /// Hot spot row.
        hot_y: u32,
    },
    /// Cursor pixel data does not match the announced size.
    #[error("cursor pixels are {actual} bytes, expected {expected}")]
    CursorDataLength {
        /// Bytes given.
        actual: usize,
        /// `width * height * 4`.
        expected: usize,
    },
    /// The ring's head and tail do not describe a possible ring state.
    #[error("ring indices are corrupt: head {head}, tail {tail}, capacity {capacity}")]
    RingCorrupt {
        /// Head read from the header.
        head: u64,
        /// Tail the consumer holds.
        tail: u64,
        /// Ring capacity in records.
        capacity: u32,
    },
    /// Damage names a mode serial newer than any mode announced so far.
    #[error("damage names mode serial {serial}, newer than the current {current}")]
    UnannouncedMode {
        /// Serial in the record.
        serial: u32,
        /// Serial of the mode in force.
        current: u32,
    },
    /// A ring record has a kind this version does not know.
    #[error("unknown ring record kind {0}")]
    UnknownRecord(u32),
    /// A consistent snapshot could not be read because the writer never
    /// finished (or kept restarting) its update.
    #[error("shared state kept changing while being read")]
    Contended,
    /// An access would leave the mapping; means a bug, as offsets are
    /// validated before use.
    #[error("access of {len} bytes at offset {offset} is outside the {size}-byte mapping")]
    OutOfBounds {
        /// Offset inside the mapping.
        offset: usize,
        /// Access length.
        len: usize,
        /// Mapping size.
        size: usize,
    },
    /// A write was attempted through a read-only mapping; means a bug.
    #[error("write through a read-only mapping")]
    ReadOnly,
    /// The doorbell descriptor returned a short read.
    #[error("doorbell read returned {0} bytes instead of 8")]
    ShortDoorbellRead(usize),
}

impl ShmError {
    /// Wraps an errno with the name of the call that produced it.
    pub(crate) fn sys(op: &'static str) -> impl FnOnce(Errno) -> ShmError {
        move |source| ShmError::Sys { op, source }
    }
}
