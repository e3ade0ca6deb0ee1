//! Ring records: their encoding and the slots they live in.
//!
//! Slots are read and written as atomic words so that a producer writing a
//! slot while a (buggy) consumer reads it is a torn value, not undefined
//! behaviour. Ordering comes from the head (release on publish, acquire on
//! drain), so the words themselves use relaxed accesses; relaxed 32-bit loads
//! are also the kind Rust allows on the consumer's read-only mapping.

use std::sync::atomic::Ordering;

use crate::error::ShmError;
use crate::events::{Mode, PixelFormat, Rect};
use crate::layout::{Geometry, RECORD_SIZE, RECORD_WORDS};
use crate::mapping::Mapping;

const KIND_DAMAGE: u32 = 1;
const KIND_MODE: u32 = 2;
const KIND_CURSOR_MOVED: u32 = 3;
const KIND_CURSOR_SHAPE: u32 = 4;

/// One decoded record, not yet checked against the mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    Damage { rect: Rect, mode_serial: u32 },
    ModeChanged { mode: Mode, serial: u32 },
    CursorMoved { x: i32, y: i32 },
    CursorShape { serial: u32 },
}

type Words = [u32; RECORD_WORDS];

impl Record {
    /// The slot words for this record.
    pub(crate) fn encode(self) -> Words {
        let mut words = [0; RECORD_WORDS];
        let args: &[u32] = match self {
            Record::Damage {
                rect: r,
                mode_serial,
            } => &[KIND_DAMAGE, r.x, r.y, r.width, r.height, mode_serial],
            Record::ModeChanged { mode: m, serial } => &[
                KIND_MODE,
                m.width,
                m.height,
                m.stride,
                serial,
                m.format.to_word(),
            ],
            Record::CursorMoved { x, y } => &[KIND_CURSOR_MOVED, x as u32, y as u32],
            Record::CursorShape { serial } => &[KIND_CURSOR_SHAPE, serial],
        };
        words[..args.len()].copy_from_slice(args);
        words
    }

    /// Decodes slot words; only the kind and the pixel format can be wrong
    /// at this level.
    pub(crate) fn decode(words: Words) -> Result<Record, ShmError> {
        let [kind, a, b, c, d, e, ..] = words;
        match kind {
            KIND_DAMAGE => Ok(Record::Damage {
                rect: Rect {
                    x: a,
                    y: b,
                    width: c,
                    height: d,
                },
                mode_serial: e,
            }),
            KIND_MODE => Ok(Record::ModeChanged {
                mode: Mode {
                    width: a,
                    height: b,
                    stride: c,
                    format: PixelFormat::from_word(e).ok_or(ShmError::UnknownPixelFormat(e))?,
                },
                serial: d,
            }),
            KIND_CURSOR_MOVED => Ok(Record::CursorMoved {
                x: a as i32,
                y: b as i32,
            }),
            KIND_CURSOR_SHAPE => Ok(Record::CursorShape { serial: a }),
            other => Err(ShmError::UnknownRecord(other)),
        }
    }
}

/// Body-relative offset of the slot that holds record number `index`.
fn slot_offset(geometry: &Geometry, index: u64) -> usize {
    // The modulo is below `ring_records`, a u32, so the cast is lossless.
    let slot = (index % u64::from(geometry.ring_records)) as usize;
    Geometry::body_offset(geometry.ring_offset) + slot * RECORD_SIZE
}

/// Stores record number `index` in its slot.
pub(crate) fn write_slot(
    body: &Mapping,
    geometry: &Geometry,
    index: u64,
    words: Words,
) -> Result<(), ShmError> {
    body.check_writable()?;
    let base = slot_offset(geometry, index);
    for (i, word) in words.iter().enumerate() {
        body.atomic_u32(base + i * 4)?
            .store(*word, Ordering::Relaxed);
    }
    Ok(())
}

/// Copies record number `index` out of its slot.
pub(crate) fn read_slot(
    body: &Mapping,
    geometry: &Geometry,
    index: u64,
) -> Result<Words, ShmError> {
    let base = slot_offset(geometry, index);
    let mut words = [0; RECORD_WORDS];
    for (i, word) in words.iter_mut().enumerate() {
        *word = body.atomic_u32(base + i * 4)?.load(Ordering::Relaxed);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let records = [
            Record::Damage {
                rect: Rect {
                    x: 1,
                    y: 2,
                    width: 3,
                    height: 4,
                },
                mode_serial: 6,
            },
            Record::ModeChanged {
                mode: Mode {
                    width: 640,
                    height: 480,
                    stride: 2560,
                    format: PixelFormat::Xrgb32,
                },
                serial: 6,
            },
            Record::CursorMoved { x: -5, y: 7 },
            Record::CursorShape { serial: 9 },
        ];
        for record in records {
            assert_eq!(Record::decode(record.encode()).unwrap(), record);
        }
    }

    #[test]
    fn unknown_kinds_fail() {
        for kind in [0, 5, u32::MAX] {
            let mut words = [0; RECORD_WORDS];
            words[0] = kind;
            assert!(matches!(
                Record::decode(words),
                Err(ShmError::UnknownRecord(k)) if k == kind
            ));
        }
    }
}
