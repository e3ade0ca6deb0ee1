//! One connection to the X display: what changed (damage, cursor, screen
//! size), reading pixels, the cursor image and the pointer position.
//!
//! Damage uses the `NonEmpty` report level: the server sends one event
//! when the damaged region stops being empty, and the host collects the
//! whole region once per frame (`Subtract` into an XFixes region, then
//! `FetchRegion`). However busy the X clients are, that is a bounded
//! amount of work per frame; `ReportRawRectangles` would instead queue an
//! event per drawing operation.

use spicebox_shm::Rect;
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::damage::{self, ConnectionExt as _, ReportLevel};
use x11rb::protocol::xfixes::{self, ConnectionExt as _, CursorNotifyMask};
use x11rb::protocol::xproto::{
    ChangeWindowAttributesAux, ConnectionExt as _, EventMask, Rectangle, Window,
};
use x11rb::protocol::{xtest, Event};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;
use x11rb::NONE;

use super::capture::Capture;
use super::error::X11Error;
use super::leds::Leds;
use super::pixels::PixelFormat;
use crate::damage::DamageList;

/// Events handled per frame at most; the rest wait for the next frame.
const MAX_EVENTS_PER_FRAME: usize = 4096;
/// A damage region of more rectangles than this is captured as its
/// bounding box: one big read beats hundreds of tiny ones.
const MAX_FETCHED_RECTS: usize = 256;
/// Largest cursor side the shared cursor area holds.
const CURSOR_MAX_SIDE: u16 = 256;

/// What the events drained in one frame asked for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pending {
    /// Something was drawn.
    pub(crate) damaged: bool,
    /// The cursor image changed.
    pub(crate) cursor: bool,
    /// The screen has this new size.
    pub(crate) resized: Option<(u32, u32)>,
}

/// A cursor image, B,G,R,A bytes (premultiplied, as XFixes gives them).
pub(crate) struct CursorImage {
    pub(crate) width: u16,
    pub(crate) height: u16,
    pub(crate) hot_x: u16,
    pub(crate) hot_y: u16,
    pub(crate) pixels: Vec<u8>,
}

/// A live connection to the display being shared.
pub(crate) struct Display {
    conn: RustConnection,
    root: Window,
    size: (u32, u32),
    capture: Capture,
    damage: damage::Damage,
    region: xfixes::Region,
    leds: Option<Leds>,
    has_xtest: bool,
}

impl Display {
    /// Connects to `name` (a DISPLAY string such as `:99`) and subscribes
    /// to damage, cursor and size changes of its root window.
    pub(crate) fn connect(name: &str) -> Result<Display, X11Error> {
        let (conn, screen) = x11rb::connect(Some(name))?;
        let format = PixelFormat::of_screen(conn.setup(), screen)?;
        let scr = conn
            .setup()
            .roots
            .get(screen)
            .ok_or_else(|| X11Error::UnsupportedFormat(format!("no screen {screen}")))?;
        let root = scr.root;
        let size = (
            u32::from(scr.width_in_pixels),
            u32::from(scr.height_in_pixels),
        );

        require(&conn, damage::X11_EXTENSION_NAME, "DAMAGE")?;
        require(&conn, xfixes::X11_EXTENSION_NAME, "XFIXES")?;
        // Both must be negotiated before their other requests are used.
        conn.damage_query_version(1, 1)?.reply()?;
        conn.xfixes_query_version(4, 0)?.reply()?;
        let has_xtest = conn
            .extension_information(xtest::X11_EXTENSION_NAME)?
            .is_some();
        if !has_xtest {
            tracing::warn!(
                display = name,
                "no XTEST extension: client input is ignored"
            );
        }

        conn.change_window_attributes(
            root,
            &ChangeWindowAttributesAux::new().event_mask(EventMask::STRUCTURE_NOTIFY),
        )?;
        let damage = conn.generate_id()?;
        conn.damage_create(damage, root, ReportLevel::NON_EMPTY)?;
        let region = conn.generate_id()?;
        conn.xfixes_create_region(region, &[])?;
        conn.xfixes_select_cursor_input(root, CursorNotifyMask::DISPLAY_CURSOR)?;
        let capture = Capture::new(&conn, format, size.0, size.1)?;
        let leds = Leds::new(&conn)?;
        // Surfaces any error of the requests above before the first frame.
        conn.sync()?;
        tracing::info!(
            display = name,
            width = size.0,
            height = size.1,
            bits_per_pixel = format.bits_per_pixel,
            shm = capture.uses_shm(),
            xkb_leds = leds.is_some(),
            "connected to the X display"
        );
        Ok(Display {
            conn,
            root,
            size,
            capture,
            damage,
            region,
            leds,
            has_xtest,
        })
    }

    pub(crate) fn conn(&self) -> &RustConnection {
        &self.conn
    }

    pub(crate) fn root(&self) -> Window {
        self.root
    }

    /// The screen size.
    pub(crate) fn size(&self) -> (u32, u32) {
        self.size
    }

    pub(crate) fn has_xtest(&self) -> bool {
        self.has_xtest
    }

    /// Handles the events that arrived since the last call.
    pub(crate) fn poll_events(&mut self) -> Result<Pending, X11Error> {
        let mut pending = Pending::default();
        for _ in 0..MAX_EVENTS_PER_FRAME {
            let Some(event) = self.conn.poll_for_event()? else {
                break;
            };
            match event {
                Event::DamageNotify(_) => pending.damaged = true,
                Event::XfixesCursorNotify(_) => pending.cursor = true,
                Event::ConfigureNotify(e) if e.window == self.root => {
                    let size = (u32::from(e.width), u32::from(e.height));
                    if size != self.size && size.0 > 0 && size.1 > 0 {
                        self.size = size;
                        self.capture.resize(&self.conn, size.0, size.1)?;
                        pending.resized = Some(size);
                    }
                }
                Event::Error(error) => {
                    // Errors of requests sent without waiting for them
                    // (a capture racing a resize): the next full capture
                    // repairs whatever they left out.
                    tracing::debug!(?error, "X error");
                    pending.damaged = true;
                }
                _ => {}
            }
        }
        Ok(pending)
    }

    /// The rectangles drawn since the last call, clipped to `bounds`
    /// (`width`x`height` from the origin), merged and bounded in number.
    pub(crate) fn take_damage(&mut self, bounds: (u32, u32)) -> Result<Vec<Rect>, X11Error> {
        self.conn.damage_subtract(self.damage, NONE, self.region)?;
        let reply = self.conn.xfixes_fetch_region(self.region)?.reply()?;
        let mut list = DamageList::new();
        if reply.rectangles.len() > MAX_FETCHED_RECTS {
            if let Some(r) = clip(&reply.extents, bounds) {
                list.add(r);
            }
        } else {
            for r in &reply.rectangles {
                if let Some(r) = clip(r, bounds) {
                    list.add(r);
                }
            }
        }
        Ok(list.take())
    }

    /// Forgets damage collected so far (a full capture follows).
    pub(crate) fn discard_damage(&mut self) -> Result<(), X11Error> {
        self.conn.damage_subtract(self.damage, NONE, NONE)?;
        Ok(())
    }

    /// Reads `rect` of the screen into `frame` (B,G,R,X, `frame_width`
    /// pixels a row).
    pub(crate) fn read(
        &mut self,
        rect: Rect,
        frame: &mut [u8],
        frame_width: u32,
    ) -> Result<(), X11Error> {
        self.capture
            .read(&self.conn, self.root, rect, frame, frame_width)
    }

    /// The current cursor image, cropped to what the shared cursor area
    /// holds; a fully transparent pixel for a hidden cursor.
    pub(crate) fn cursor_image(&self) -> Result<CursorImage, X11Error> {
        let reply = self.conn.xfixes_get_cursor_image()?.reply()?;
        let (w, h) = (usize::from(reply.width), usize::from(reply.height));
        if w == 0 || h == 0 || reply.cursor_image.len() < w * h {
            return Ok(CursorImage {
                width: 1,
                height: 1,
                hot_x: 0,
                hot_y: 0,
                pixels: vec![0; 4],
            });
        }
        let cw = reply.width.min(CURSOR_MAX_SIDE);
        let ch = reply.height.min(CURSOR_MAX_SIDE);
        let mut pixels = Vec::with_capacity(usize::from(cw) * usize::from(ch) * 4);
        for row in reply.cursor_image.chunks_exact(w).take(usize::from(ch)) {
            for argb in &row[..usize::from(cw)] {
                // ARGB words are B,G,R,A in little-endian memory order.
                pixels.extend_from_slice(&argb.to_le_bytes());
            }
        }
        Ok(CursorImage {
            width: cw,
            height: ch,
            hot_x: reply.xhot.min(cw - 1),
            hot_y: reply.yhot.min(ch - 1),
            pixels,
        })
    }

    /// Where the pointer is on the root window.
    pub(crate) fn pointer(&self) -> Result<(i32, i32), X11Error> {
        let reply = self.conn.query_pointer(self.root)?.reply()?;
        Ok((i32::from(reply.root_x), i32::from(reply.root_y)))
    }

    /// The lock LEDs as SPICE modifier flags, if the server has XKB.
    pub(crate) fn leds(&mut self) -> Result<Option<u16>, X11Error> {
        let Some(leds) = &self.leds else {
            return Ok(None);
        };
        match leds.read(&self.conn) {
            Ok(flags) => Ok(Some(flags)),
            Err(X11Error::Refused(error)) => {
                // Not worth losing the display over: stop asking.
                tracing::warn!(
                    ?error,
                    "cannot read the XKB indicators; LEDs no longer follow"
                );
                self.leds = None;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Frees what the server holds for us (on a clean stop).
    pub(crate) fn close(self) {
        self.capture.release(&self.conn);
        let _ = self.conn.damage_destroy(self.damage);
        let _ = self.conn.xfixes_destroy_region(self.region);
        let _ = self.conn.flush();
    }
}

/// Fails unless the server has extension `name`.
fn require(conn: &RustConnection, name: &'static str, label: &'static str) -> Result<(), X11Error> {
    match conn.extension_information(name)? {
        Some(_) => Ok(()),
        None => Err(X11Error::MissingExtension(label)),
    }
}

/// An X rectangle clipped to `(0, 0, width, height)`.
fn clip(r: &Rectangle, (width, height): (u32, u32)) -> Option<Rect> {
    let x0 = i64::from(r.x).clamp(0, i64::from(width));
    let y0 = i64::from(r.y).clamp(0, i64::from(height));
    let x1 = (i64::from(r.x) + i64::from(r.width)).clamp(0, i64::from(width));
    let y1 = (i64::from(r.y) + i64::from(r.height)).clamp(0, i64::from(height));
    (x1 > x0 && y1 > y0).then(|| Rect {
        x: x0 as u32,
        y: y0 as u32,
        width: (x1 - x0) as u32,
        height: (y1 - y0) as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangles_are_clipped_to_the_frame() {
        let r = |x, y, width, height| Rectangle {
            x,
            y,
            width,
            height,
        };
        assert_eq!(
            clip(&r(-5, 10, 20, 20), (100, 100)),
            Some(Rect {
                x: 0,
                y: 10,
                width: 15,
                height: 20
            })
        );
        assert_eq!(
            clip(&r(90, 90, 50, 50), (100, 95)).map(|r| r.height),
            Some(5)
        );
        assert_eq!(clip(&r(200, 0, 5, 5), (100, 100)), None);
        assert_eq!(clip(&r(0, 0, 0, 5), (100, 100)), None);
    }
}
