//! Reading rectangles of the root window into the host's private picture.
//!
//! With MIT-SHM 1.2 the X server writes each rectangle straight into a
//! memfd segment we passed it, and we read the bytes back with `pread`
//! (one kernel copy, no pixels through the socket, and no `unsafe` mapping
//! in this crate). Without it, core `GetImage` carries the pixels over the
//! socket, in strips so that no reply grows past [`MAX_STRIP_BYTES`].

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;

use nix::sys::memfd::{memfd_create, MFdFlags};
use spicebox_shm::Rect;
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{self, ImageFormat};
use x11rb::rust_connection::RustConnection;

use super::error::X11Error;
use super::pixels::PixelFormat;

/// Largest `GetImage` reply asked for at once on the fallback path.
const MAX_STRIP_BYTES: usize = 4 << 20;

/// MIT-SHM 1.2 added passing the segment as a file descriptor.
const SHM_FD_VERSION: (u16, u16) = (1, 2);

/// A memfd the X server writes captured rectangles into.
struct Segment {
    seg: shm::Seg,
    file: File,
    size: usize,
}

/// How rectangles are read.
enum Method {
    Shm(Segment),
    GetImage,
}

/// Reads rectangles of the root window and converts them to B,G,R,X.
pub(crate) struct Capture {
    method: Method,
    format: PixelFormat,
    /// Captured bytes in the server's layout, before conversion; reused.
    scratch: Vec<u8>,
}

impl Capture {
    /// Sets up MIT-SHM for a `width`x`height` screen if the server offers
    /// it, else the GetImage path. Only a broken connection is an error.
    pub(crate) fn new(
        conn: &RustConnection,
        format: PixelFormat,
        width: u32,
        height: u32,
    ) -> Result<Capture, X11Error> {
        let method = match Segment::attach(conn, format.stride(width) * height as usize) {
            Ok(Some(segment)) => Method::Shm(segment),
            Ok(None) => Method::GetImage,
            Err(X11Error::Lost(e)) => return Err(X11Error::Lost(e)),
            Err(error) => {
                tracing::warn!(%error, "MIT-SHM unusable; capturing with GetImage");
                Method::GetImage
            }
        };
        Ok(Capture {
            method,
            format,
            scratch: Vec::new(),
        })
    }

    /// Whether pixels come through shared memory.
    pub(crate) fn uses_shm(&self) -> bool {
        matches!(self.method, Method::Shm(_))
    }

    /// Makes room for a screen of the new size.
    pub(crate) fn resize(
        &mut self,
        conn: &RustConnection,
        width: u32,
        height: u32,
    ) -> Result<(), X11Error> {
        let needed = self.format.stride(width) * height as usize;
        if let Method::Shm(segment) = &self.method {
            if segment.size >= needed {
                return Ok(());
            }
            let old = segment.seg;
            // The old segment goes whatever happens next.
            conn.shm_detach(old)?;
            self.method = match Segment::attach(conn, needed)? {
                Some(segment) => Method::Shm(segment),
                None => Method::GetImage,
            };
        }
        Ok(())
    }

    /// Copies `rect` of window `root` into `frame` (B,G,R,X rows of
    /// `frame_width` pixels, same coordinates). `rect` must lie inside
    /// both the screen and the frame.
    pub(crate) fn read(
        &mut self,
        conn: &RustConnection,
        root: xproto::Window,
        rect: Rect,
        frame: &mut [u8],
        frame_width: u32,
    ) -> Result<(), X11Error> {
        if rect.width == 0 || rect.height == 0 {
            return Ok(());
        }
        let stride = self.format.stride(rect.width);
        match &self.method {
            Method::Shm(segment) => {
                let len = stride * rect.height as usize;
                if len > segment.size {
                    // Cannot happen for a rect inside the screen the
                    // segment was sized for; refuse rather than overrun.
                    return Err(X11Error::Segment(std::io::Error::other(format!(
                        "{len} bytes do not fit the {} byte segment",
                        segment.size
                    ))));
                }
                conn.shm_get_image(
                    root,
                    coord(rect.x),
                    coord(rect.y),
                    extent(rect.width),
                    extent(rect.height),
                    !0,
                    ImageFormat::Z_PIXMAP.into(),
                    segment.seg,
                    0,
                )?
                .reply()?;
                self.scratch.resize(len, 0);
                segment
                    .file
                    .read_exact_at(&mut self.scratch, 0)
                    .map_err(X11Error::Segment)?;
                convert(
                    &self.format,
                    &self.scratch,
                    stride,
                    rect,
                    frame,
                    frame_width,
                );
            }
            Method::GetImage => {
                let rows_per_strip = (MAX_STRIP_BYTES / stride.max(1)).max(1) as u32;
                let mut done = 0;
                while done < rect.height {
                    let rows = rows_per_strip.min(rect.height - done);
                    let reply = xproto::get_image(
                        conn,
                        ImageFormat::Z_PIXMAP,
                        root,
                        coord(rect.x),
                        coord(rect.y + done),
                        extent(rect.width),
                        extent(rows),
                        !0,
                    )?
                    .reply()?;
                    let strip = Rect {
                        y: rect.y + done,
                        height: rows,
                        ..rect
                    };
                    convert(&self.format, &reply.data, stride, strip, frame, frame_width);
                    done += rows;
                }
            }
        }
        Ok(())
    }

    /// Lets the server drop the segment (on a clean stop).
    pub(crate) fn release(&self, conn: &RustConnection) {
        if let Method::Shm(segment) = &self.method {
            let _ = conn.shm_detach(segment.seg);
            let _ = conn.flush();
        }
    }
}

impl Segment {
    /// Creates a segment of `size` bytes and attaches it, or None when the
    /// server has no MIT-SHM 1.2.
    fn attach(conn: &RustConnection, size: usize) -> Result<Option<Segment>, X11Error> {
        if conn
            .extension_information(shm::X11_EXTENSION_NAME)?
            .is_none()
        {
            tracing::info!("the X server has no MIT-SHM; capturing with GetImage");
            return Ok(None);
        }
        let version = conn.shm_query_version()?.reply()?;
        if (version.major_version, version.minor_version) < SHM_FD_VERSION {
            tracing::info!(
                major = version.major_version,
                minor = version.minor_version,
                "MIT-SHM too old to pass a memfd; capturing with GetImage"
            );
            return Ok(None);
        }
        let fd = memfd_create(c"spicebox-x11-capture", MFdFlags::MFD_CLOEXEC)
            .map_err(|e| X11Error::Segment(e.into()))?;
        let file = File::from(fd);
        file.set_len(size as u64).map_err(X11Error::Segment)?;
        let theirs: OwnedFd = file.try_clone().map_err(X11Error::Segment)?.into();
        let seg = conn.generate_id()?;
        // Checked: a server that cannot map the descriptor (another
        // machine, another user namespace) refuses here, not at capture.
        conn.shm_attach_fd(seg, theirs, false)?.check()?;
        Ok(Some(Segment { seg, file, size }))
    }
}

/// Converts `rect.height` rows of `src` (`stride` bytes apart) into `frame` at `rect`. Rows that are not all there are left
/// alone, so a short reply never panics.
fn convert(
    format: &PixelFormat,
    src: &[u8],
    stride: usize,
    rect: Rect,
    frame: &mut [u8],
    frame_width: u32,
) {
    let frame_stride = frame_width as usize * 4;
    let row_bytes = rect.width as usize * 4;
    for row in 0..rect.height as usize {
        let from = row * stride;
        let Some(src_row) = src.get(from..from + stride) else {
            return;
        };
        let to = (rect.y as usize + row) * frame_stride + rect.x as usize * 4;
        let Some(dst_row) = frame.get_mut(to..to + row_bytes) else {
            return;
        };
        format.convert_row(src_row, dst_row);
    }
}

/// X coordinates are 16-bit; screens beyond that are clipped long before.
fn coord(v: u32) -> i16 {
    i16::try_from(v).unwrap_or(i16::MAX)
}

fn extent(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}
