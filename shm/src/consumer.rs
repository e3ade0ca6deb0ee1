//! The reading side, used by the display worker. Treats the producer as
//! hostile: every value from shared memory is copied once, then validated.

use std::os::fd::OwnedFd;
use std::sync::atomic::{fence, Ordering};

use crate::cursor;
use crate::error::ShmError;
use crate::events::{CursorImage, Event, Mode, Rect};
use crate::layout::{DWord, Geometry, Word, BYTES_PER_PIXEL};
use crate::mapping::Access;
use crate::mode::{self, ModeState};
use crate::region::Region;
use crate::ring::{self, Record};
use crate::serial;

/// Why the consumer rebuilds its view from the state areas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resync {
    /// First drain after open: records from before we arrived are skipped.
    Open,
    /// The producer dropped records.
    Overflow,
}

/// Reads a region: drains validated events and copies pixels out.
#[derive(Debug)]
pub struct Consumer {
    region: Region,
    /// Records consumed so far; only this process writes the ring tail.
    tail: u64,
    /// The mode the records drained so far leave in force; damage is
    /// checked against it.
    mode: ModeState,
    /// The serial of the last cursor shape handed out.
    cursor_serial: u32,
    /// A resync still owed: after open, or one that failed halfway (the
    /// ring was already dropped, so it must be retried, not forgotten).
    pending_resync: Option<Resync>,
}

impl Consumer {
    /// Maps a region read-only (header aside) after checking its seals, its
    /// header and its size.
    pub fn open(fd: OwnedFd) -> Result<Consumer, ShmError> {
        let region = Region::open(&fd, Access::ReadOnly)?;
        Ok(Consumer {
            region,
            tail: 0,
            mode: ModeState::NONE,
            cursor_serial: 0,
            pending_resync: Some(Resync::Open),
        })
    }

    /// Appends every event published since the last call.
    ///
    /// The first call after [`Consumer::open`] reports the current state
    /// instead of old records: the mode, the cursor shape and position, then
    /// a damage of the whole mode. On a bad record the error is returned, the
    /// record is skipped, and the events before it stay in `out`; the next
    /// call carries on after it.
    pub fn drain(&mut self, out: &mut Vec<Event>) -> Result<(), ShmError> {
        if let Some(why) = self.pending_resync {
            return self.resync(why, out);
        }
        if self.overflowed() {
            return self.resync(Resync::Overflow, out);
        }
        self.drain_records(out)?;
        // The producer may have given up while we were draining.
        if self.overflowed() {
            self.resync(Resync::Overflow, out)?;
        }
        Ok(())
    }

    /// The framebuffer's current mode (`Mode::NONE` before the first one).
    pub fn mode(&self) -> Result<Mode, ShmError> {
        Ok(mode::read(&self.region.header, &self.region.geometry)?.mode)
    }

    /// Appends `rect.height` rows of `rect.width * 4` bytes (B,G,R,X), top row
    /// first, copied from the framebuffer.
    pub fn copy_rect(&self, rect: Rect, out: &mut Vec<u8>) -> Result<(), ShmError> {
        let mode = self.mode()?;
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
        // `mode::read` bounded stride * height by the framebuffer size and
        // `fits_in` put the rect inside the mode, so none of this overflows.
        let bpp = BYTES_PER_PIXEL as usize;
        let row_bytes = rect.width as usize * bpp;
        let fb_base = Geometry::body_offset(self.region.geometry.fb_offset);
        let stride = mode.stride as usize;
        let start = out.len();
        out.resize(start + row_bytes * rect.height as usize, 0);
        for (i, dst) in out[start..].chunks_exact_mut(row_bytes).enumerate() {
            let row = rect.y as usize + i;
            let offset = fb_base + row * stride + rect.x as usize * bpp;
            if let Err(e) = self.region.body.copy_out(offset, dst) {
                out.truncate(start);
                return Err(e);
            }
        }
        Ok(())
    }

    /// The current cursor shape, if the producer ever set one.
    pub fn cursor(&self) -> Result<Option<CursorImage>, ShmError> {
        cursor::read(
            &self.region.header,
            &self.region.body,
            &self.region.geometry,
        )
    }

    /// The current pointer position.
    pub fn cursor_position(&self) -> (i32, i32) {
        cursor::read_position(&self.region.header)
    }

    fn overflowed(&self) -> bool {
        self.region
            .header
            .word(Word::Overflow)
            .load(Ordering::Acquire)
            != 0
    }

    fn head(&self) -> u64 {
        self.region
            .header
            .dword(DWord::RingHead)
            .load(Ordering::Acquire)
    }

    /// Number of records in `[self.tail, head)`, refusing impossible heads.
    fn pending(&self, head: u64) -> Result<u64, ShmError> {
        let capacity = self.region.geometry.ring_records;
        let pending = head.wrapping_sub(self.tail);
        if pending > u64::from(capacity) {
            return Err(ShmError::RingCorrupt {
                head,
                tail: self.tail,
                capacity,
            });
        }
        Ok(pending)
    }

    fn set_tail(&mut self, tail: u64) {
        self.tail = tail;
        self.region
            .header
            .dword(DWord::RingTail)
            .store(tail, Ordering::Release);
    }

    fn drain_records(&mut self, out: &mut Vec<Event>) -> Result<(), ShmError> {
        let head = self.head();
        let pending = self.pending(head)?;
        let mut result = Ok(());
        let mut consumed = self.tail;
        for _ in 0..pending {
            let words = ring::read_slot(&self.region.body, &self.region.geometry, consumed);
            consumed = consumed.wrapping_add(1);
            match words
                .and_then(Record::decode)
                .and_then(|record| self.apply(record))
            {
                Ok(Some(event)) => out.push(event),
                Ok(None) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        // Published once at the end: the producer only needs it to see room.
        self.set_tail(consumed);
        result
    }

    /// Validates one record against the state it arrives in.
    fn apply(&mut self, record: Record) -> Result<Option<Event>, ShmError> {
        match record {
            Record::Damage { rect, mode_serial } => {
                let current = self.mode.serial;
                if mode_serial != current {
                    // Drawn in a mode a resync already replaced: the full
                    // damage of the resync covers it.
                    if serial::is_older(mode_serial, current) {
                        return Ok(None);
                    }
                    return Err(ShmError::UnannouncedMode {
                        serial: mode_serial,
                        current,
                    });
                }
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
                Ok(Some(Event::Damage(rect)))
            }
            Record::ModeChanged { mode: raw, serial } => {
                // Already known from a resync (or replayed): nothing new.
                if !serial::is_older(self.mode.serial, serial) {
                    return Ok(None);
                }
                let mode = mode::validate(raw, &self.region.geometry)
                    .ok()
                    .filter(Mode::is_set)
                    .ok_or(ShmError::InvalidMode {
                        width: raw.width,
                        height: raw.height,
                        stride: raw.stride,
                    })?;
                self.mode = ModeState { mode, serial };
                Ok(Some(Event::ModeChanged(mode)))
            }
            Record::CursorMoved { x, y } => Ok(Some(Event::CursorMoved { x, y })),
            Record::CursorShape { serial } => {
                if !serial::is_older(self.cursor_serial, serial) {
                    return Ok(None);
                }
                Ok(self.new_cursor_shape()?.map(Event::CursorShape))
            }
        }
    }

    /// The cursor shape, if it differs from the last one handed out. Several
    /// shape records in a row collapse into the newest shape.
    fn new_cursor_shape(&mut self) -> Result<Option<CursorImage>, ShmError> {
        match self.cursor()? {
            Some(image) if image.serial != self.cursor_serial => {
                self.cursor_serial = image.serial;
                Ok(Some(image))
            }
            _ => Ok(None),
        }
    }

    /// Drops whatever is in the ring and reports the current state instead.
    ///
    /// Records published from here on stay in the ring. Some may describe a
    /// state older than the one read here (damage drawn in the previous
    /// mode, a shape already replaced); the mode and shape serials let
    /// `apply` drop those instead of mistaking them for corruption.
    fn resync(&mut self, why: Resync, out: &mut Vec<Event>) -> Result<(), ShmError> {
        self.pending_resync = Some(why);
        let head = self.head();
        self.set_tail(head);
        self.region
            .header
            .word(Word::Overflow)
            .store(0, Ordering::Release);
        // Pairs with the fence in `Producer::publish`: either we see the
        // state it wrote before a dropped record, or it saw the flag cleared
        // and published that record.
        fence(Ordering::SeqCst);
        let state = mode::read(&self.region.header, &self.region.geometry)?;
        let shape = self.cursor()?;
        let position = self.cursor_position();
        let mode = state.mode;
        let mode_changed = why == Resync::Open || state.serial != self.mode.serial;
        self.mode = state;
        if mode_changed && mode.is_set() {
            out.push(Event::ModeChanged(mode));
        }
        if let Some(image) = shape {
            if image.serial != self.cursor_serial {
                self.cursor_serial = image.serial;
                out.push(Event::CursorShape(image));
            }
        }
        out.push(Event::CursorMoved {
            x: position.0,
            y: position.1,
        });
        match why {
            Resync::Open if mode.is_set() => out.push(Event::Damage(mode.full_rect())),
            Resync::Open => {}
            Resync::Overflow => out.push(Event::Overflow),
        }
        self.pending_resync = None;
        Ok(())
    }
}
