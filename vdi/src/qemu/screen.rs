//! The shared framebuffer as QEMU's listener calls fill it.
//!
//! QEMU 7.2 sends pixels as byte arrays: `Scanout` carries the whole
//! guest screen, `Update` one rectangle of it, both in the surface's pixman
//! format: x8r8g8b8 (`0x20020888`, in little-endian memory already the
//! B,G,R,X layout of the shared framebuffer) for 32-bit guest modes, and
//! the 24, 16 and 15-bit formats of such guest modes, converted on the way
//! in (`pixels.rs`). An `Update` carries only its own
//! rectangle (row 0 of the array is the rectangle's top row), while the
//! producer copies from a picture in framebuffer coordinates, so the host
//! keeps a private mirror of the screen and copies each rectangle there
//! first.
//!
//! Everything QEMU sends is checked before it is used: sizes, strides and
//! array lengths; a screen larger than the region's largest mode is shown
//! clipped to its top-left part.

use std::time::{Duration, Instant};

use spicebox_shm::{Doorbell, Producer, Rect, ShmError};

use super::pixels::SourceFormat;
use crate::gone::{self, Why};

/// Largest guest side accepted at all (the shm layout's own limit);
/// anything larger is nonsense rather than a big screen.
const MAX_SIDE: u32 = 16384;
/// Largest cursor side the shared cursor area holds.
const CURSOR_MAX_SIDE: u32 = 256;
/// Size of the "gone" picture when no guest was ever shown.
const FALLBACK_SIZE: (u32, u32) = (1024, 768);
/// How often update figures are logged (at debug level).
const STATS_PERIOD: Duration = Duration::from_secs(10);

/// Why a call could not be applied.
#[derive(Debug)]
pub(crate) enum Fault {
    /// The shared region failed: the host cannot go on.
    Shm(ShmError),
    /// QEMU sent something unusable: this call is dropped.
    Frame(String),
}

impl From<ShmError> for Fault {
    fn from(e: ShmError) -> Self {
        Fault::Shm(e)
    }
}

/// What [`Screen::update`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Updated {
    /// Published.
    Done,
    /// The rectangle lies outside the screen QEMU last announced: QEMU
    /// 7.2 switched modes without a `Scanout` (its `dbus_gfx_switch` bug);
    /// the caller re-reads the console size, [`Screen::resize`]s and
    /// applies the update again.
    OutsideScreen,
}

/// The last cursor QEMU defined, B,G,R,A.
#[derive(Clone)]
struct CursorShape {
    width: u16,
    height: u16,
    hot_x: u16,
    hot_y: u16,
    pixels: Vec<u8>,
}

/// Updates published since the figures were last logged.
struct Stats {
    since: Instant,
    updates: u32,
    pixels: u64,
}

/// The host's side of the shared region, shared by the listener (pixels,
/// cursor) and the host loop ("gone" picture, pointer bounds).
pub(crate) struct Screen {
    producer: Producer,
    doorbell: Doorbell,
    /// The guest screen size QEMU announced.
    guest: (u32, u32),
    /// The published mode: `guest` clipped to the region's largest mode.
    mode: (u32, u32),
    /// The screen as published, B,G,R,X, `mode.0` pixels a row.
    frame: Vec<u8>,
    cursor: Option<CursorShape>,
    cursor_visible: bool,
    /// What the "gone" picture shows, if it is up.
    gone: Option<Why>,
    stats: Stats,
}

impl Screen {
    pub(crate) fn new(producer: Producer, doorbell: Doorbell) -> Screen {
        Screen {
            producer,
            doorbell,
            guest: (0, 0),
            mode: (0, 0),
            frame: Vec::new(),
            cursor: None,
            cursor_visible: false,
            gone: None,
            stats: Stats {
                since: Instant::now(),
                updates: 0,
                pixels: 0,
            },
        }
    }

    /// The guest screen size (0x0 before the first scanout).
    pub(crate) fn guest_size(&self) -> (u32, u32) {
        self.guest
    }

    /// A new connection starts: the "gone" picture stays until QEMU's
    /// first scanout replaces it; the cursor stays hidden until QEMU
    /// defines one (std VGA never does: the guest draws its own).
    pub(crate) fn start_session(&mut self) -> Result<(), ShmError> {
        self.cursor = None;
        self.hide_cursor()?;
        self.doorbell.ring()
    }

    /// `Scanout`: the whole screen, `width`x`height`, rows `stride` bytes
    /// apart.
    pub(crate) fn scanout(
        &mut self,
        width: u32,
        height: u32,
        stride: u32,
        format: u32,
        data: &[u8],
    ) -> Result<(), Fault> {
        let format = check_format(format)?;
        if self.guest != (width, height) {
            self.resize(width, height)?;
        }
        let Some(rect) = blit(
            &mut self.frame,
            self.mode,
            (0, 0, width, height),
            (data, stride, format),
        )?
        else {
            return Ok(());
        };
        self.publish(rect)
    }

    /// `Update`: the rectangle `(x, y, w, h)`, its rows `stride` bytes
    /// apart in `data`. With `clip`, a rectangle outside the announced
    /// screen is clipped to it rather than reported.
    #[allow(clippy::too_many_arguments)] // QEMU's own argument list.
    pub(crate) fn update(
        &mut self,
        (x, y, w, h): (i32, i32, i32, i32),
        stride: u32,
        format: u32,
        data: &[u8],
        clip: bool,
    ) -> Result<Updated, Fault> {
        let format = check_format(format)?;
        let (Ok(x), Ok(y), Ok(w), Ok(h)) = (
            u32::try_from(x),
            u32::try_from(y),
            u32::try_from(w),
            u32::try_from(h),
        ) else {
            return Err(Fault::Frame(format!("update at {x},{y} of {w}x{h}")));
        };
        if w == 0 || h == 0 {
            return Ok(Updated::Done);
        }
        let fits = x.checked_add(w).is_some_and(|r| r <= self.guest.0)
            && y.checked_add(h).is_some_and(|b| b <= self.guest.1);
        if !fits && !clip {
            return Ok(Updated::OutsideScreen);
        }
        if let Some(rect) = blit(
            &mut self.frame,
            self.mode,
            (x, y, w, h),
            (data, stride, format),
        )? {
            self.publish(rect)?;
        }
        Ok(Updated::Done)
    }

    /// The guest screen is now `width`x`height`: a new mode, black until
    /// QEMU's pixels arrive.
    pub(crate) fn resize(&mut self, width: u32, height: u32) -> Result<(), Fault> {
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(Fault::Frame(format!("screen size {width}x{height}")));
        }
        let (max_w, max_h) = self.producer.max_size();
        let mode = (width.min(max_w), height.min(max_h));
        if mode != (width, height) {
            tracing::warn!(
                width,
                height,
                shown_width = mode.0,
                shown_height = mode.1,
                "the guest screen is larger than the shared framebuffer; showing its top-left part"
            );
        }
        tracing::info!(width, height, "guest screen size");
        self.guest = (width, height);
        self.set_mode(mode)?;
        self.gone = None;
        Ok(())
    }

    /// `CursorDefine`: a `width`x`height` B,G,R,A shape (larger ones are
    /// cropped to what the cursor area holds).
    pub(crate) fn define_cursor(
        &mut self,
        (width, height): (i32, i32),
        (hot_x, hot_y): (i32, i32),
        data: &[u8],
    ) -> Result<(), Fault> {
        let (Ok(w), Ok(h)) = (u32::try_from(width), u32::try_from(height)) else {
            return Err(Fault::Frame(format!("cursor of {width}x{height}")));
        };
        let needed = u64::from(w) * u64::from(h) * 4;
        if w == 0 || h == 0 || (data.len() as u64) < needed {
            return Err(Fault::Frame(format!(
                "cursor of {w}x{h} with {} bytes",
                data.len()
            )));
        }
        let (cw, ch) = (w.min(CURSOR_MAX_SIDE), h.min(CURSOR_MAX_SIDE));
        let row = w as usize * 4;
        let mut pixels = Vec::with_capacity(cw as usize * ch as usize * 4);
        for line in data.chunks_exact(row).take(ch as usize) {
            pixels.extend_from_slice(&line[..cw as usize * 4]);
        }
        // Both fit in u16: at most CURSOR_MAX_SIDE.
        let side = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
        let hot = |v: i32, limit: u32| side(u32::try_from(v).unwrap_or(0).min(limit - 1));
        let shape = CursorShape {
            width: side(cw),
            height: side(ch),
            hot_x: hot(hot_x, cw),
            hot_y: hot(hot_y, ch),
            pixels,
        };
        if self.cursor_visible {
            self.show_shape(&shape)?;
            self.doorbell.ring()?;
        }
        self.cursor = Some(shape);
        Ok(())
    }

    /// `MouseSet`: the guest's hardware cursor is at `(x, y)`, shown or
    /// hidden.
    pub(crate) fn set_mouse(&mut self, x: i32, y: i32, on: bool) -> Result<(), ShmError> {
        match (&self.cursor, on) {
            (Some(shape), true) => {
                if !self.cursor_visible {
                    let shape = shape.clone();
                    self.show_shape(&shape)?;
                    self.cursor_visible = true;
                }
                self.producer.move_cursor(x, y)?;
            }
            _ => self.hide_cursor()?,
        }
        self.doorbell.ring()
    }

    /// `Disable`: the console has no picture (the guest turned the
    /// display off): show black, no cursor.
    pub(crate) fn disable(&mut self) -> Result<(), ShmError> {
        if self.mode == (0, 0) {
            return Ok(());
        }
        self.frame.fill(0);
        let full = full_rect(self.mode);
        self.producer
            .write_rect(full, &self.frame, self.mode.0 as usize * 4)?;
        self.hide_cursor()?;
        self.doorbell.ring()
    }

    /// Paints the "gone" picture for `subject` at the current size (once
    /// per state).
    pub(crate) fn show_gone(&mut self, subject: &str, why: Why) -> Result<(), ShmError> {
        if self.gone == Some(why) {
            return Ok(());
        }
        if self.mode == (0, 0) {
            self.set_mode(FALLBACK_SIZE)?;
        }
        let (width, height) = self.mode;
        self.frame = gone::paint(width, height, subject, why);
        self.producer
            .write_rect(full_rect(self.mode), &self.frame, width as usize * 4)?;
        self.hide_cursor()?;
        self.gone = Some(why);
        // The next scanout repaints everything, whatever its size.
        self.guest = (0, 0);
        self.doorbell.ring()
    }

    fn set_mode(&mut self, mode: (u32, u32)) -> Result<(), ShmError> {
        self.producer.set_mode(mode.0, mode.1)?;
        self.mode = mode;
        self.frame = vec![0; mode.0 as usize * mode.1 as usize * 4];
        self.producer
            .write_rect(full_rect(mode), &self.frame, mode.0 as usize * 4)
    }

    fn publish(&mut self, rect: Rect) -> Result<(), Fault> {
        self.producer
            .write_rect(rect, &self.frame, self.mode.0 as usize * 4)?;
        self.doorbell.ring()?;
        self.count(&rect);
        Ok(())
    }

    fn show_shape(&mut self, s: &CursorShape) -> Result<(), ShmError> {
        self.producer
            .set_cursor_shape(s.width, s.height, s.hot_x, s.hot_y, &s.pixels)
    }

    fn hide_cursor(&mut self) -> Result<(), ShmError> {
        self.cursor_visible = false;
        self.producer.set_cursor_shape(1, 1, 0, 0, &[0; 4])
    }

    fn count(&mut self, rect: &Rect) {
        let stats = &mut self.stats;
        stats.updates += 1;
        stats.pixels += u64::from(rect.width) * u64::from(rect.height);
        let elapsed = stats.since.elapsed();
        if elapsed >= STATS_PERIOD {
            let secs = elapsed.as_secs_f64();
            let full = f64::from(self.mode.0) * f64::from(self.mode.1);
            tracing::debug!(
                updates_per_second = f64::from(stats.updates) / secs,
                megapixels_per_second = stats.pixels as f64 / secs / 1e6,
                full_screens_per_second = stats.pixels as f64 / secs / full.max(1.0),
                "QEMU display updates"
            );
            stats.since = Instant::now();
            stats.updates = 0;
            stats.pixels = 0;
        }
    }
}

fn check_format(format: u32) -> Result<SourceFormat, Fault> {
    SourceFormat::from_pixman(format).ok_or_else(|| {
        Fault::Frame(format!(
            "pixel format {format:#010x} (x8r8g8b8, a8r8g8b8, r8g8b8, r5g6b5 and x1r5g5b5 are converted)"
        ))
    })
}

fn full_rect((width, height): (u32, u32)) -> Rect {
    Rect {
        x: 0,
        y: 0,
        width,
        height,
    }
}

/// Copies the `w`x`h` block of `format` pixels in `src` (rows `stride`
/// bytes apart, the block's top-left first) to `(x, y)` of `frame` (a
/// `mode.0`x`mode.1` B,G,R,X picture), converted and clipped to it.
/// Returns the rectangle written, None when nothing of it is on the frame.
fn blit(
    frame: &mut [u8],
    mode: (u32, u32),
    (x, y, w, h): (u32, u32, u32, u32),
    (src, stride, format): (&[u8], u32, SourceFormat),
) -> Result<Option<Rect>, Fault> {
    if w == 0 || h == 0 {
        return Ok(None);
    }
    let bpp = format.bytes_per_pixel();
    let (stride, row_bytes) = (stride as usize, w as usize * bpp);
    let needed = (h as usize - 1)
        .checked_mul(stride)
        .and_then(|n| n.checked_add(row_bytes));
    if stride < row_bytes || needed.is_none_or(|n| n > src.len()) {
        return Err(Fault::Frame(format!(
            "{w}x{h} pixels with stride {stride} in {} bytes",
            src.len()
        )));
    }
    let cw = w.min(mode.0.saturating_sub(x));
    let ch = h.min(mode.1.saturating_sub(y));
    if cw == 0 || ch == 0 {
        return Ok(None);
    }
    let frame_stride = mode.0 as usize * 4;
    for row in 0..ch as usize {
        let from = row * stride;
        let to = (y as usize + row) * frame_stride + x as usize * 4;
        format.convert_row(
            &src[from..from + cw as usize * bpp],
            &mut frame[to..to + cw as usize * 4],
        );
    }
    Ok(Some(Rect {
        x,
        y,
        width: cw,
        height: ch,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::pixels::PIXMAN_X8R8G8B8;

    const BGRX: SourceFormat = SourceFormat::Bgrx32;

    fn frame(mode: (u32, u32)) -> Vec<u8> {
        vec![0; mode.0 as usize * mode.1 as usize * 4]
    }

    #[test]
    fn a_block_lands_at_its_place() {
        let mode = (4, 3);
        let mut f = frame(mode);
        // 2x2 block, stride 12 (one pixel of padding per row).
        let src: Vec<u8> = (0..24).collect();
        let r = blit(&mut f, mode, (1, 1, 2, 2), (&src, 12, BGRX)).expect("valid");
        assert_eq!(
            r,
            Some(Rect {
                x: 1,
                y: 1,
                width: 2,
                height: 2
            })
        );
        assert_eq!(&f[20..28], &src[0..8]);
        assert_eq!(&f[36..44], &src[12..20]);
        assert_eq!(&f[..20], &[0; 20]);
    }

    #[test]
    fn blocks_are_clipped_to_the_mode() {
        let mode = (4, 3);
        let mut f = frame(mode);
        let src = vec![7u8; 8 * 4 * 8];
        let r = blit(&mut f, mode, (2, 1, 8, 8), (&src, 32, BGRX)).expect("valid");
        assert_eq!(
            r,
            Some(Rect {
                x: 2,
                y: 1,
                width: 2,
                height: 2
            })
        );
        assert_eq!(
            blit(&mut f, mode, (9, 0, 1, 1), (&src, 4, BGRX)).expect("ok"),
            None
        );
    }

    #[test]
    fn short_or_inconsistent_arrays_are_refused() {
        let mode = (4, 3);
        let mut f = frame(mode);
        // Stride smaller than a row.
        assert!(blit(&mut f, mode, (0, 0, 2, 1), (&[0; 8], 4, BGRX)).is_err());
        // One byte short of the last row.
        assert!(blit(&mut f, mode, (0, 0, 2, 2), (&[0; 15], 8, BGRX)).is_err());
        // Huge stride does not overflow.
        assert!(blit(&mut f, mode, (0, 0, 1, 3), (&[0; 8], u32::MAX, BGRX)).is_err());
        assert!(check_format(0x2001_0888).is_err());
        assert_eq!(check_format(PIXMAN_X8R8G8B8).ok(), Some(BGRX));
        // A 16-bit block: 2 bytes a pixel, converted; its stride is checked
        // against 2 bytes a pixel too.
        let mut f = vec![0u8; 4 * 4 * 4];
        let src = [0xff, 0xff, 0x00, 0xf8, 0, 0, 0, 0];
        let rgb565 = SourceFormat::Rgb565;
        let r = blit(&mut f, (4, 4), (1, 2, 2, 1), (&src, 8, rgb565)).expect("valid");
        assert_eq!(r.map(|r| (r.x, r.y, r.width)), Some((1, 2, 2)));
        assert_eq!(
            &f[(2 * 4 + 1) * 4..][..8],
            &[255, 255, 255, 0, 0, 0, 255, 0]
        );
        assert!(blit(&mut f, (4, 4), (0, 0, 3, 1), (&src[..5], 6, rgb565)).is_err());
    }

    /// A screen on a real shared region, and the consumer that watches it.
    fn shared_screen() -> (Screen, spicebox_shm::Consumer) {
        let region = spicebox_shm::create_region(&spicebox_shm::ShmLayout {
            max_width: 64,
            max_height: 64,
            ring_records: 64,
        })
        .expect("region");
        let producer = Producer::open(region.try_clone().expect("dup")).expect("producer");
        let mut consumer = spicebox_shm::Consumer::open(region).expect("consumer");
        let mut events = Vec::new();
        consumer.drain(&mut events).expect("drain");
        let screen = Screen::new(producer, Doorbell::new().expect("doorbell"));
        (screen, consumer)
    }

    fn cursor_events(consumer: &mut spicebox_shm::Consumer) -> Vec<spicebox_shm::Event> {
        let mut events = Vec::new();
        consumer.drain(&mut events).expect("drain");
        events.retain(|e| {
            matches!(
                e,
                spicebox_shm::Event::CursorShape(_) | spicebox_shm::Event::CursorMoved { .. }
            )
        });
        events
    }

    #[test]
    fn the_guest_cursor_is_shown_where_the_guest_puts_it_and_hidden_when_it_hides() {
        use spicebox_shm::Event;
        let (mut screen, mut consumer) = shared_screen();
        screen
            .scanout(8, 8, 32, PIXMAN_X8R8G8B8, &[0x40; 8 * 8 * 4])
            .expect("scanout");
        let _ = cursor_events(&mut consumer);
        let shape: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
        screen.define_cursor((2, 3), (1, 2), &shape).expect("shape");
        // Defined but not yet placed: nothing shows.
        assert_eq!(cursor_events(&mut consumer), vec![]);
        screen.set_mouse(5, 6, true).expect("place");
        let events = cursor_events(&mut consumer);
        let Some(Event::CursorShape(shown)) = events.first() else {
            panic!("no shape first: {events:?}");
        };
        assert_eq!(
            (shown.width, shown.height, shown.hot_x, shown.hot_y),
            (2, 3, 1, 2)
        );
        assert_eq!(shown.argb, shape);
        assert_eq!(events.last(), Some(&Event::CursorMoved { x: 5, y: 6 }));

        screen.set_mouse(5, 6, false).expect("hide");
        let events = cursor_events(&mut consumer);
        assert!(
            matches!(events.first(), Some(Event::CursorShape(s)) if s.argb == [0; 4]),
            "hidden as a transparent pixel: {events:?}"
        );
    }

    #[test]
    fn cursor_shapes_are_checked_and_cropped() {
        let (mut screen, _consumer) = shared_screen();
        assert!(screen.define_cursor((-1, 4), (0, 0), &[0; 16]).is_err());
        assert!(screen.define_cursor((4, 4), (0, 0), &[0; 63]).is_err());
        assert!(screen.define_cursor((0, 4), (0, 0), &[]).is_err());
        // Larger than the cursor area: the top-left part, the hot spot
        // kept inside it.
        let side = CURSOR_MAX_SIDE as i32 + 10;
        let data = vec![0xff; (side * side * 4) as usize];
        screen
            .define_cursor((side, side), (side - 1, 3), &data)
            .expect("cropped");
        let shape = screen.cursor.as_ref().expect("kept");
        assert_eq!((shape.width, shape.height), (256, 256));
        assert_eq!((shape.hot_x, shape.hot_y), (255, 3));
        assert_eq!(shape.pixels.len(), 256 * 256 * 4);
    }
}
