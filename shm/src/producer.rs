//! The writing side, used by the host.

use std::os::fd::OwnedFd;
use std::sync::atomic::{fence, Ordering};

use crate::cursor::{self, Shape};
use crate::error::ShmError;
use crate::events::{Mode, PixelFormat, Rect};
use crate::layout::{DWord, Geometry, Word, BYTES_PER_PIXEL};
use crate::mapping::Access;
use crate::mode::{self, ModeState};
use crate::region::Region;
use crate::ring::{self, Record};
use crate::serial;

/// Writes pixels, mode and cursor into a region and publishes ring records.
///
/// Never blocks on the consumer: when the ring is full it raises the
/// overflow flag and drops records until the consumer has resynchronised.
/// State (pixels, mode, cursor) is always written to its area first, so a
/// resynchronising consumer finds everything a dropped record described.
#[derive(Debug)]
pub struct Producer {
    region: Region,
    /// Records published so far; only this process writes the ring head.
    head: u64,
    mode: ModeState,
    cursor_serial: u32,
}

impl Producer {
    /// Maps a region made by [`crate::create_region`].
    pub fn open(fd: OwnedFd) -> Result<Producer, ShmError> {
        let region = Region::open(&fd, Access::ReadWrite)?;
        let header = &region.header;
        // A restarted host continues where the previous one stopped.
        let head = header.dword(DWord::RingHead).load(Ordering::Relaxed);
        // A corrupt mode left behind is simply replaced by the next set_mode.
        let mode = mode::read(header, &region.geometry).unwrap_or(ModeState::NONE);
        let cursor_serial = header.word(Word::CursorSerial).load(Ordering::Relaxed);
        Ok(Producer {
            region,
            head,
            mode,
            cursor_serial,
        })
    }

    /// The largest mode this region can hold.
    pub fn max_size(&self) -> (u32, u32) {
        (
            self.region.geometry.max_width,
            self.region.geometry.max_height,
        )
    }

    /// The mode last set.
    pub fn mode(&self) -> Mode {
        self.mode.mode
    }

    /// Sets a new opaque mode (stride `width * 4`) and publishes it. The
    /// framebuffer contents are undefined until rectangles are written.
    pub fn set_mode(&mut self, width: u32, height: u32) -> Result<(), ShmError> {
        self.set_mode_with_format(width, height, PixelFormat::Xrgb32)
    }

    /// Sets a new mode in `format` (stride `width * 4`) and publishes it.
    pub fn set_mode_with_format(
        &mut self,
        width: u32,
        height: u32,
        format: PixelFormat,
    ) -> Result<(), ShmError> {
        let stride = width.saturating_mul(BYTES_PER_PIXEL);
        let wanted = Mode {
            width,
            height,
            stride,
            format,
        };
        let mode = mode::validate(wanted, &self.region.geometry)
            .ok()
            .filter(Mode::is_set)
            .ok_or(ShmError::InvalidMode {
                width,
                height,
                stride,
            })?;
        let state = ModeState {
            mode,
            serial: serial::next(self.mode.serial),
        };
        mode::write(&self.region.header, state);
        self.mode = state;
        self.publish(Record::ModeChanged {
            mode,
            serial: state.serial,
        })
    }

    /// Copies `rect` of a private BGRX picture (same coordinates as the
    /// framebuffer, rows `src_stride` bytes apart) into the framebuffer and
    /// publishes it as damage.
    pub fn write_rect(
        &mut self,
        rect: Rect,
        src: &[u8],
        src_stride: usize,
    ) -> Result<(), ShmError> {
        let mode = self.mode.mode;
        if !mode.is_set() {
            return Err(ShmError::NoMode);
        }
        if !rect.fits_in(mode.width, mode.height) {
            return Err(ShmError::RectOutsideMode {
                rect,
                width: mode.width,
                height: mode.height,
            });
        }
        let bpp = BYTES_PER_PIXEL as usize;
        let (x, y) = (rect.x as usize, rect.y as usize);
        let (w, h) = (rect.width as usize, rect.height as usize);
        let row_bytes = w * bpp;
        let last_row_end = (y + h - 1)
            .checked_mul(src_stride)
            .and_then(|start| start.checked_add((x + w) * bpp));
        let src_fits = matches!(last_row_end, Some(end) if end <= src.len());
        if src_stride < (x + w) * bpp || !src_fits {
            return Err(ShmError::SourceTooSmall {
                rect,
                len: src.len(),
                stride: src_stride,
            });
        }
        let fb_base = Geometry::body_offset(self.region.geometry.fb_offset);
        let fb_stride = mode.stride as usize;
        for row in y..y + h {
            let from = row * src_stride + x * bpp;
            let to = fb_base + row * fb_stride + x * bpp;
            self.region.body.copy_in(to, &src[from..from + row_bytes])?;
        }
        self.publish(Record::Damage {
            rect,
            mode_serial: self.mode.serial,
        })
    }

    /// Sets a new cursor shape (`width * height` B,G,R,A pixels) and
    /// publishes it.
    pub fn set_cursor_shape(
        &mut self,
        width: u16,
        height: u16,
        hot_x: u16,
        hot_y: u16,
        argb: &[u8],
    ) -> Result<(), ShmError> {
        let shape = Shape {
            width: width.into(),
            height: height.into(),
            hot_x: hot_x.into(),
            hot_y: hot_y.into(),
        }
        .validate()?;
        if argb.len() != shape.byte_len() {
            return Err(ShmError::CursorDataLength {
                actual: argb.len(),
                expected: shape.byte_len(),
            });
        }
        let serial = serial::next(self.cursor_serial);
        let region = &mut self.region;
        cursor::write(
            &region.header,
            &mut region.body,
            &region.geometry,
            shape,
            argb,
            serial,
        )?;
        self.cursor_serial = serial;
        self.publish(Record::CursorShape { serial })
    }

    /// Moves the pointer and publishes the move.
    pub fn move_cursor(&mut self, x: i32, y: i32) -> Result<(), ShmError> {
        cursor::write_position(&self.region.header, x, y);
        self.publish(Record::CursorMoved { x, y })
    }

    fn publish(&mut self, record: Record) -> Result<(), ShmError> {
        let header = &self.region.header;
        let overflow = header.word(Word::Overflow);
        // Pairs with the fence in the consumer's resync: either the consumer
        // sees the state written just before this call, or we see its
        // cleared flag and publish the record.
        fence(Ordering::SeqCst);
        if overflow.load(Ordering::Acquire) != 0 {
            // The consumer will resynchronise from the state areas.
            return Ok(());
        }
        let tail = header.dword(DWord::RingTail).load(Ordering::Acquire);
        // A tail ahead of the head (corrupt) also counts as full.
        let used = self.head.wrapping_sub(tail);
        if used >= u64::from(self.region.geometry.ring_records) {
            overflow.store(1, Ordering::Release);
            return Ok(());
        }
        ring::write_slot(
            &self.region.body,
            &self.region.geometry,
            self.head,
            record.encode(),
        )?;
        self.head = self.head.wrapping_add(1);
        header
            .dword(DWord::RingHead)
            .store(self.head, Ordering::Release);
        Ok(())
    }
}
