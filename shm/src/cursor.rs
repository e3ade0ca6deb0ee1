//! The cursor shape area and position word, readable at any time so a client
//! that connects late still gets the current pointer.

use std::sync::atomic::Ordering;

use crate::error::ShmError;
use crate::events::CursorImage;
use crate::header::Header;
use crate::layout::{DWord, Geometry, Word, BYTES_PER_PIXEL, CURSOR_MAX_SIDE};
use crate::mapping::Mapping;
use crate::seqlock;

/// Size and hot spot of a cursor shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    pub width: u32,
    pub height: u32,
    pub hot_x: u32,
    pub hot_y: u32,
}

impl Shape {
    /// Checks the shape fits the cursor area and has its hot spot inside.
    pub(crate) fn validate(self) -> Result<Shape, ShmError> {
        let side_ok = |side: u32| (1..=CURSOR_MAX_SIDE).contains(&side);
        if side_ok(self.width)
            && side_ok(self.height)
            && self.hot_x < self.width
            && self.hot_y < self.height
        {
            Ok(self)
        } else {
            Err(ShmError::InvalidCursor {
                width: self.width,
                height: self.height,
                hot_x: self.hot_x,
                hot_y: self.hot_y,
            })
        }
    }

    /// Bytes of pixel data; only meaningful after `validate`.
    pub(crate) fn byte_len(self) -> usize {
        self.width as usize * self.height as usize * BYTES_PER_PIXEL as usize
    }
}

/// Writes a new shape and its pixels under the cursor sequence lock.
pub(crate) fn write(
    header: &Header,
    body: &mut Mapping,
    geometry: &Geometry,
    shape: Shape,
    argb: &[u8],
    serial: u32,
) -> Result<(), ShmError> {
    let offset = Geometry::body_offset(geometry.cursor_offset);
    seqlock::write(header.word(Word::CursorSeq), || {
        let set = |w: Word, v: u32| header.word(w).store(v, Ordering::Relaxed);
        set(Word::CursorWidth, shape.width);
        set(Word::CursorHeight, shape.height);
        set(Word::CursorHotX, shape.hot_x);
        set(Word::CursorHotY, shape.hot_y);
        set(Word::CursorSerial, serial);
        body.copy_in(offset, argb)
    })
}

/// Reads the current shape, if the producer ever set one.
pub(crate) fn read(
    header: &Header,
    body: &Mapping,
    geometry: &Geometry,
) -> Result<Option<CursorImage>, ShmError> {
    let offset = Geometry::body_offset(geometry.cursor_offset);
    let mut argb = Vec::new();
    let snapshot = seqlock::read(header.word(Word::CursorSeq), || {
        let get = |w: Word| header.word(w).load(Ordering::Relaxed);
        let serial = get(Word::CursorSerial);
        if serial == 0 {
            return Ok(None);
        }
        // Validated before sizing the copy: the values may be torn or hostile.
        let shape = Shape {
            width: get(Word::CursorWidth),
            height: get(Word::CursorHeight),
            hot_x: get(Word::CursorHotX),
            hot_y: get(Word::CursorHotY),
        }
        .validate()?;
        argb.resize(shape.byte_len(), 0);
        body.copy_out(offset, &mut argb)?;
        Ok(Some((shape, serial)))
    })??;
    Ok(snapshot.map(|(shape, serial)| CursorImage {
        // `validate` bounded every field by 256.
        width: shape.width as u16,
        height: shape.height as u16,
        hot_x: shape.hot_x as u16,
        hot_y: shape.hot_y as u16,
        serial,
        argb,
    }))
}

/// Publishes the pointer position as one word, so it is never torn.
pub(crate) fn write_position(header: &Header, x: i32, y: i32) {
    let packed = u64::from(x as u32) | (u64::from(y as u32) << 32);
    header
        .dword(DWord::CursorPosition)
        .store(packed, Ordering::Release);
}

/// Reads the pointer position.
pub(crate) fn read_position(header: &Header) -> (i32, i32) {
    let packed = header.dword(DWord::CursorPosition).load(Ordering::Acquire);
    (packed as u32 as i32, (packed >> 32) as u32 as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_outside_the_area_or_with_outside_hot_spots_fail() {
        let shape = |width, height, hot_x, hot_y| Shape {
            width,
            height,
            hot_x,
            hot_y,
        };
        assert!(shape(1, 1, 0, 0).validate().is_ok());
        assert!(shape(256, 256, 255, 255).validate().is_ok());
        for bad in [
            shape(0, 1, 0, 0),
            shape(257, 1, 0, 0),
            shape(8, 8, 8, 0),
            shape(8, 8, 0, 8),
        ] {
            assert!(matches!(
                bad.validate(),
                Err(ShmError::InvalidCursor { .. })
            ));
        }
    }
}
