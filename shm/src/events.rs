//! The values that travel from producer to consumer.

/// A rectangle of pixels, in framebuffer coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Rect {
    /// Whether the rectangle is non-empty and lies inside a `width`x`height`
    /// area (without overflowing on hostile values).
    pub fn fits_in(&self, width: u32, height: u32) -> bool {
        let right = self.x.checked_add(self.width);
        let bottom = self.y.checked_add(self.height);
        self.width > 0
            && self.height > 0
            && matches!(right, Some(r) if r <= width)
            && matches!(bottom, Some(b) if b <= height)
    }
}

/// What the fourth byte of each framebuffer pixel means. Pixels are always
/// four bytes, B,G,R then this one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// Padding: the picture is opaque whatever the byte holds.
    #[default]
    Xrgb32,
    /// Straight alpha: the picture carries transparency the client keeps.
    Argb32,
}

impl PixelFormat {
    /// The value stored in shared memory.
    pub const fn to_word(self) -> u32 {
        match self {
            PixelFormat::Xrgb32 => 0,
            PixelFormat::Argb32 => 1,
        }
    }

    /// Reads a stored value; `None` for anything unknown.
    pub const fn from_word(word: u32) -> Option<Self> {
        match word {
            0 => Some(PixelFormat::Xrgb32),
            1 => Some(PixelFormat::Argb32),
            _ => None,
        }
    }

    /// Whether the fourth byte is alpha.
    pub const fn has_alpha(self) -> bool {
        matches!(self, PixelFormat::Argb32)
    }
}

/// A display mode: the framebuffer's current size, row pitch and pixel
/// format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes from one row to the next.
    pub stride: u32,
    /// What the fourth byte of a pixel means.
    pub format: PixelFormat,
}

impl Mode {
    /// The mode of a fresh region: nothing to show yet.
    pub const NONE: Mode = Mode {
        width: 0,
        height: 0,
        stride: 0,
        format: PixelFormat::Xrgb32,
    };

    /// Whether a mode has been set.
    pub fn is_set(&self) -> bool {
        self.width != 0 && self.height != 0
    }

    /// The rectangle covering the whole mode.
    pub fn full_rect(&self) -> Rect {
        Rect {
            x: 0,
            y: 0,
            width: self.width,
            height: self.height,
        }
    }
}

/// A cursor shape with its pixels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CursorImage {
    /// Width in pixels, 1..=256.
    pub width: u16,
    /// Height in pixels, 1..=256.
    pub height: u16,
    /// Hot spot column, inside the shape.
    pub hot_x: u16,
    /// Hot spot row, inside the shape.
    pub hot_y: u16,
    /// Changes with every new shape; never 0.
    pub serial: u32,
    /// `width * height * 4` bytes, rows packed, each pixel B,G,R,A.
    pub argb: Vec<u8>,
}

/// One thing the producer published, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// These pixels changed.
    Damage(Rect),
    /// The framebuffer now has this mode; its contents are undefined until
    /// the damage that follows.
    ModeChanged(Mode),
    /// The pointer moved to this position.
    CursorMoved {
        /// Column of the hot spot.
        x: i32,
        /// Row of the hot spot.
        y: i32,
    },
    /// The pointer has a new shape.
    CursorShape(CursorImage),
    /// Records were lost because the ring was full: treat as damage of the
    /// whole mode. Mode and cursor events reflecting the current state come
    /// right before it.
    Overflow,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_in_rejects_empty_outside_and_overflowing_rects() {
        let r = |x, y, width, height| Rect {
            x,
            y,
            width,
            height,
        };
        assert!(r(0, 0, 10, 10).fits_in(10, 10));
        assert!(r(9, 9, 1, 1).fits_in(10, 10));
        assert!(!r(0, 0, 0, 1).fits_in(10, 10));
        assert!(!r(5, 0, 6, 1).fits_in(10, 10));
        assert!(!r(0, 10, 1, 1).fits_in(10, 10));
        assert!(!r(u32::MAX, 0, 2, 1).fits_in(u32::MAX, 10));
    }
}
