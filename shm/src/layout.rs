//! Byte layout of the shared region.
//!
//! ```text
//! offset            size                      contents
//! 0                 HEADER_SIZE (64 KiB)      header (table below)
//! ring_offset       ring_records * 32, ↑      ring of fixed-size records
//! cursor_offset     256 * 256 * 4             current cursor shape, B,G,R,A rows
//! fb_offset         max_w * max_h * 4, ↑      framebuffer, B,G,R,X (or B,G,R,A) rows at the mode stride
//! ```
//! `↑` = rounded up to [`AREA_ALIGN`]. Every area starts on a 64 KiB
//! boundary, a whole page on every Linux page size, so the consumer can map
//! the header read-write and everything after it read-only. The memfd is
//! sparse: a large maximum mode costs nothing until the producer touches it.
//!
//! Header (all fields native-endian, every field accessed as an atomic):
//!
//! ```text
//! 0x000 u64 magic "SPBXSHM\0"          0x080 u32 mode seqlock counter
//! 0x008 u32 version (2)                0x084 u32 mode width
//! 0x00c u32 header size                0x088 u32 mode height
//! 0x010 u32 max width                  0x08c u32 mode stride (bytes)
//! 0x014 u32 max height                 0x090 u32 mode serial (0 = no mode yet)
//!                                      0x094 u32 mode pixel format (0 xRGB, 1 ARGB)
//!                                      0x0c0 u32 cursor seqlock counter
//! 0x018 u32 ring records               0x0c4 u32 cursor width
//! 0x01c u32 record size (32)           0x0c8 u32 cursor height
//! 0x020 u64 ring offset                0x0cc u32 cursor hot x
//! 0x028 u64 cursor offset              0x0d0 u32 cursor hot y
//! 0x030 u64 framebuffer offset         0x0d4 u32 cursor serial (0 = no shape yet)
//! 0x038 u64 framebuffer size           0x100 u64 cursor position: x low, y high (i32 each)
//! 0x040 u64 total size                 0x140 u64 ring head (records ever published)
//!                                      0x180 u64 ring tail (records ever consumed)
//!                                      0x1c0 u32 overflow flag
//! ```
//! The fields up to 0x040 are written once by `create_region`; the consumer
//! copies them at open and checks them against the layout it derives itself.
//! Head and tail sit on their own cache lines because two processes write them.
//!
//! A ring record is eight `u32` words: the kind, then its arguments.
//!
//! ```text
//! 1 damage        x, y, width, height, mode serial
//! 2 mode changed  width, height, stride, mode serial, pixel format
//! 3 cursor moved  x, y (as i32)
//! 4 cursor shape  serial (the shape itself is in the cursor area)
//! ```
//! Head and tail count records ever published/consumed; slot = count % ring
//! records. When the ring is full the producer raises the overflow flag and
//! publishes nothing until the consumer clears it, but keeps writing state
//! (pixels, mode, cursor) into the areas above. The consumer then drops the
//! ring and reports that state plus an overflow (full damage) instead.
//!
//! Damage names the mode it was drawn in, so a consumer that resynchronised
//! from the header (and so may already know a newer mode than the records
//! still in the ring) can tell stale damage from corrupt damage.

use crate::error::ShmError;

/// "SPBXSHM\0" read as a little-endian u64.
pub const MAGIC: u64 = u64::from_le_bytes(*b"SPBXSHM\0");
/// Bumped on any incompatible layout change.
pub const VERSION: u32 = 2;
/// Size of the header area, and the alignment of every later area.
pub const HEADER_SIZE: usize = 64 * 1024;
/// Alignment of every area, so each can be mapped on its own.
pub const AREA_ALIGN: usize = HEADER_SIZE;
/// Bytes per ring record.
pub const RECORD_SIZE: usize = 32;
/// `u32` words per ring record.
pub const RECORD_WORDS: usize = RECORD_SIZE / 4;
/// Bytes per pixel in the framebuffer and the cursor area.
pub const BYTES_PER_PIXEL: u32 = 4;
/// Largest cursor side in pixels.
pub const CURSOR_MAX_SIDE: u32 = 256;
/// Bytes reserved for the cursor shape.
pub const CURSOR_AREA_SIZE: usize = (CURSOR_MAX_SIDE * CURSOR_MAX_SIDE * BYTES_PER_PIXEL) as usize;
/// Largest framebuffer side this crate accepts (a 1 GiB framebuffer).
pub const MAX_DIMENSION: u32 = 16384;
/// Largest ring this crate accepts.
pub const MAX_RING_RECORDS: u32 = 1 << 16;

/// A 32-bit header field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Word {
    Version,
    HeaderSize,
    MaxWidth,
    MaxHeight,
    RingRecords,
    RecordSize,
    ModeSeq,
    ModeWidth,
    ModeHeight,
    ModeStride,
    ModeSerial,
    ModeFormat,
    CursorSeq,
    CursorWidth,
    CursorHeight,
    CursorHotX,
    CursorHotY,
    CursorSerial,
    Overflow,
}

impl Word {
    /// Every variant, so tests can check all offsets.
    #[cfg(test)]
    pub(crate) const ALL: [Word; 19] = [
        Word::Version,
        Word::HeaderSize,
        Word::MaxWidth,
        Word::MaxHeight,
        Word::RingRecords,
        Word::RecordSize,
        Word::ModeSeq,
        Word::ModeWidth,
        Word::ModeHeight,
        Word::ModeStride,
        Word::ModeSerial,
        Word::ModeFormat,
        Word::CursorSeq,
        Word::CursorWidth,
        Word::CursorHeight,
        Word::CursorHotX,
        Word::CursorHotY,
        Word::CursorSerial,
        Word::Overflow,
    ];

    /// Byte offset inside the header.
    pub(crate) const fn offset(self) -> usize {
        match self {
            Word::Version => 0x008,
            Word::HeaderSize => 0x00c,
            Word::MaxWidth => 0x010,
            Word::MaxHeight => 0x014,
            Word::RingRecords => 0x018,
            Word::RecordSize => 0x01c,
            Word::ModeSeq => 0x080,
            Word::ModeWidth => 0x084,
            Word::ModeHeight => 0x088,
            Word::ModeStride => 0x08c,
            Word::ModeSerial => 0x090,
            Word::ModeFormat => 0x094,
            Word::CursorSeq => 0x0c0,
            Word::CursorWidth => 0x0c4,
            Word::CursorHeight => 0x0c8,
            Word::CursorHotX => 0x0cc,
            Word::CursorHotY => 0x0d0,
            Word::CursorSerial => 0x0d4,
            Word::Overflow => 0x1c0,
        }
    }
}

/// A 64-bit header field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DWord {
    Magic,
    RingOffset,
    CursorOffset,
    FbOffset,
    FbSize,
    TotalSize,
    CursorPosition,
    RingHead,
    RingTail,
}

impl DWord {
    /// Every variant, so tests can check all offsets.
    #[cfg(test)]
    pub(crate) const ALL: [DWord; 9] = [
        DWord::Magic,
        DWord::RingOffset,
        DWord::CursorOffset,
        DWord::FbOffset,
        DWord::FbSize,
        DWord::TotalSize,
        DWord::CursorPosition,
        DWord::RingHead,
        DWord::RingTail,
    ];

    /// Byte offset inside the header.
    pub(crate) const fn offset(self) -> usize {
        match self {
            DWord::Magic => 0x000,
            DWord::RingOffset => 0x020,
            DWord::CursorOffset => 0x028,
            DWord::FbOffset => 0x030,
            DWord::FbSize => 0x038,
            DWord::TotalSize => 0x040,
            DWord::CursorPosition => 0x100,
            DWord::RingHead => 0x140,
            DWord::RingTail => 0x180,
        }
    }
}

/// Capacities of a region, fixed when the supervisor creates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShmLayout {
    /// Widest mode the producer may set.
    pub max_width: u32,
    /// Tallest mode the producer may set.
    pub max_height: u32,
    /// Ring capacity in records.
    pub ring_records: u32,
}

impl Default for ShmLayout {
    /// 4096x2160 and 1024 records.
    fn default() -> Self {
        ShmLayout {
            max_width: 4096,
            max_height: 2160,
            ring_records: 1024,
        }
    }
}

/// Where every area lies, derived from the capacities alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub max_width: u32,
    pub max_height: u32,
    pub ring_records: u32,
    pub ring_offset: usize,
    pub cursor_offset: usize,
    pub fb_offset: usize,
    pub fb_size: usize,
    pub total_size: usize,
}

fn round_up(value: usize) -> Option<usize> {
    value
        .checked_add(AREA_ALIGN - 1)
        .map(|v| v / AREA_ALIGN * AREA_ALIGN)
}

impl Geometry {
    /// Validates the capacities and lays the areas out.
    pub(crate) fn new(layout: &ShmLayout) -> Result<Geometry, ShmError> {
        check_range("max width", layout.max_width, MAX_DIMENSION)?;
        check_range("max height", layout.max_height, MAX_DIMENSION)?;
        check_range("ring records", layout.ring_records, MAX_RING_RECORDS)?;
        // With the ranges above none of this can overflow a 64-bit usize, but
        // checked maths keeps it honest on 32-bit targets too.
        let too_big = || ShmError::InvalidLayout {
            what: "total size",
            value: u64::MAX,
        };
        let ring_bytes = (layout.ring_records as usize)
            .checked_mul(RECORD_SIZE)
            .and_then(round_up)
            .ok_or_else(too_big)?;
        let fb_size = (layout.max_width as usize)
            .checked_mul(layout.max_height as usize)
            .and_then(|p| p.checked_mul(BYTES_PER_PIXEL as usize))
            .and_then(round_up)
            .ok_or_else(too_big)?;
        let ring_offset = HEADER_SIZE;
        let cursor_offset = ring_offset.checked_add(ring_bytes).ok_or_else(too_big)?;
        let fb_offset = cursor_offset
            .checked_add(CURSOR_AREA_SIZE)
            .ok_or_else(too_big)?;
        let total_size = fb_offset.checked_add(fb_size).ok_or_else(too_big)?;
        // ftruncate and fstat speak i64.
        if i64::try_from(total_size).is_err() {
            return Err(too_big());
        }
        Ok(Geometry {
            max_width: layout.max_width,
            max_height: layout.max_height,
            ring_records: layout.ring_records,
            ring_offset,
            cursor_offset,
            fb_offset,
            fb_size,
            total_size,
        })
    }

    /// Offset of an area relative to the body mapping, which starts after
    /// the header.
    pub(crate) fn body_offset(absolute: usize) -> usize {
        absolute - HEADER_SIZE
    }

    /// Size of everything after the header.
    pub(crate) fn body_size(&self) -> usize {
        self.total_size - HEADER_SIZE
    }
}

fn check_range(what: &'static str, value: u32, max: u32) -> Result<(), ShmError> {
    if value == 0 || value > max {
        return Err(ShmError::InvalidLayout {
            what,
            value: value.into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_are_aligned_inside_the_header_and_disjoint() {
        let mut spans: Vec<(usize, usize)> = Word::ALL
            .iter()
            .map(|w| (w.offset(), 4))
            .chain(DWord::ALL.iter().map(|d| (d.offset(), 8)))
            .collect();
        for &(offset, len) in &spans {
            assert_eq!(offset % len, 0);
            assert!(offset + len <= HEADER_SIZE);
        }
        spans.sort();
        for pair in spans.windows(2) {
            assert!(pair[0].0 + pair[0].1 <= pair[1].0, "{pair:?} overlap");
        }
    }

    #[test]
    fn default_geometry_is_aligned_and_ordered() {
        let g = Geometry::new(&ShmLayout::default()).unwrap();
        assert_eq!(g.ring_offset, HEADER_SIZE);
        assert_eq!(g.cursor_offset, HEADER_SIZE + AREA_ALIGN);
        assert_eq!(g.fb_offset % AREA_ALIGN, 0);
        assert!(g.fb_size >= 4096 * 2160 * 4);
        assert_eq!(g.total_size, g.fb_offset + g.fb_size);
    }

    #[test]
    fn capacities_out_of_range_are_refused() {
        for layout in [
            ShmLayout {
                max_width: 0,
                ..ShmLayout::default()
            },
            ShmLayout {
                max_height: MAX_DIMENSION + 1,
                ..ShmLayout::default()
            },
            ShmLayout {
                ring_records: MAX_RING_RECORDS + 1,
                ..ShmLayout::default()
            },
        ] {
            assert!(matches!(
                Geometry::new(&layout),
                Err(ShmError::InvalidLayout { .. })
            ));
        }
    }
}
