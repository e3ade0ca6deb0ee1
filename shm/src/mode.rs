//! The current display mode in the header, behind a sequence lock so its
//! words are always read together.

use std::sync::atomic::Ordering;

use crate::error::ShmError;
use crate::events::{Mode, PixelFormat};
use crate::header::Header;
use crate::layout::{Geometry, Word, BYTES_PER_PIXEL};
use crate::seqlock;

/// A mode and the serial the producer gave it (see [`crate::serial`]); 0
/// means no mode yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ModeState {
    pub mode: Mode,
    pub serial: u32,
}

impl ModeState {
    /// The state of a fresh region.
    pub(crate) const NONE: ModeState = ModeState {
        mode: Mode::NONE,
        serial: 0,
    };
}

/// Checks that a mode read from shared memory fits the framebuffer area.
/// `Mode::NONE` is valid: no mode set yet.
pub(crate) fn validate(mode: Mode, geometry: &Geometry) -> Result<Mode, ShmError> {
    if mode == Mode::NONE {
        return Ok(mode);
    }
    let invalid = || ShmError::InvalidMode {
        width: mode.width,
        height: mode.height,
        stride: mode.stride,
    };
    let row_bytes = u64::from(mode.width) * u64::from(BYTES_PER_PIXEL);
    let fb_bytes = u64::from(mode.stride) * u64::from(mode.height);
    let fits = mode.is_set()
        && mode.width <= geometry.max_width
        && mode.height <= geometry.max_height
        && u64::from(mode.stride) >= row_bytes
        && mode.stride.is_multiple_of(BYTES_PER_PIXEL)
        && fb_bytes <= geometry.fb_size as u64;
    if fits {
        Ok(mode)
    } else {
        Err(invalid())
    }
}

/// Reads the mode as one consistent snapshot, validated.
pub(crate) fn read(header: &Header, geometry: &Geometry) -> Result<ModeState, ShmError> {
    let get = |w: Word| header.word(w).load(Ordering::Relaxed);
    let (mode, format, serial) = seqlock::read(header.word(Word::ModeSeq), || {
        let mode = Mode {
            width: get(Word::ModeWidth),
            height: get(Word::ModeHeight),
            stride: get(Word::ModeStride),
            format: PixelFormat::Xrgb32,
        };
        (mode, get(Word::ModeFormat), get(Word::ModeSerial))
    })?;
    let format = PixelFormat::from_word(format).ok_or(ShmError::UnknownPixelFormat(format))?;
    Ok(ModeState {
        mode: validate(Mode { format, ..mode }, geometry)?,
        serial,
    })
}

/// Publishes a new mode in the header (not in the ring).
pub(crate) fn write(header: &Header, state: ModeState) {
    let mode = state.mode;
    seqlock::write(header.word(Word::ModeSeq), || {
        header
            .word(Word::ModeSerial)
            .store(state.serial, Ordering::Relaxed);
        header
            .word(Word::ModeWidth)
            .store(mode.width, Ordering::Relaxed);
        header
            .word(Word::ModeHeight)
            .store(mode.height, Ordering::Relaxed);
        header
            .word(Word::ModeStride)
            .store(mode.stride, Ordering::Relaxed);
        header
            .word(Word::ModeFormat)
            .store(mode.format.to_word(), Ordering::Relaxed);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::ShmLayout;

    fn geometry() -> Geometry {
        Geometry::new(&ShmLayout {
            max_width: 64,
            max_height: 32,
            ring_records: 8,
        })
        .unwrap()
    }

    #[test]
    fn valid_modes_pass() {
        let g = geometry();
        for mode in [
            Mode::NONE,
            Mode {
                width: 64,
                height: 32,
                stride: 256,
                format: PixelFormat::Xrgb32,
            },
            Mode {
                width: 1,
                height: 1,
                stride: 4,
                format: PixelFormat::Xrgb32,
            },
        ] {
            assert_eq!(validate(mode, &g).unwrap(), mode);
        }
    }

    #[test]
    fn impossible_modes_fail() {
        let g = geometry();
        let bad = [
            (65, 32, 260),
            (64, 33, 256),
            (10, 0, 40),
            (0, 10, 0),
            (10, 10, 36),
            (10, 10, 41),
            (10, 10, u32::MAX - 3),
        ];
        for (width, height, stride) in bad {
            let mode = Mode {
                width,
                height,
                stride,
                format: PixelFormat::Xrgb32,
            };
            assert!(
                matches!(validate(mode, &g), Err(ShmError::InvalidMode { .. })),
                "{mode:?}"
            );
        }
    }
}
