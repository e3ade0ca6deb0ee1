//! A BGRX pixel buffer (stride = width * 4, X byte 0) with clipped writes.
//!
//! Every write is bounds-checked through slice `get`, so a wrong coordinate
//! loses a pixel instead of panicking; the hot paths work on whole row slices.

use spicebox_shm::Rect;

use super::color::blend;
use super::geom::{intersect, rect};

/// Bytes per pixel.
pub(crate) const BPP: usize = 4;

/// A mutable view of a BGRX picture.
pub(crate) struct Canvas<'a> {
    buf: &'a mut [u8],
    width: u32,
    height: u32,
}

impl<'a> Canvas<'a> {
    /// Wraps `buf`, which holds `width * height` pixels.
    pub(crate) fn new(buf: &'a mut [u8], width: u32, height: u32) -> Canvas<'a> {
        Canvas { buf, width, height }
    }

    /// The whole picture.
    pub(crate) fn bounds(&self) -> Rect {
        rect(0, 0, self.width, self.height)
    }

    /// `r` clipped to the picture.
    pub(crate) fn clip(&self, r: &Rect) -> Option<Rect> {
        intersect(r, &self.bounds())
    }

    fn offset(&self, x: u32, y: u32) -> usize {
        (y as usize * self.width as usize + x as usize) * BPP
    }

    /// The pixel at `(x, y)`, black outside.
    pub(crate) fn get(&self, x: u32, y: u32) -> u32 {
        if x >= self.width || y >= self.height {
            return 0;
        }
        let at = self.offset(x, y);
        match self.buf.get(at..at + BPP) {
            Some(&[b, g, r, _]) => u32::from_le_bytes([b, g, r, 0]),
            _ => 0,
        }
    }

    /// Sets one pixel; ignored outside.
    pub(crate) fn set(&mut self, x: u32, y: u32, color: u32) {
        if x >= self.width || y >= self.height {
            return;
        }
        let at = self.offset(x, y);
        if let Some(px) = self.buf.get_mut(at..at + BPP) {
            px.copy_from_slice(&(color & 0x00ff_ffff).to_le_bytes());
        }
    }

    /// Blends `color` over one pixel with coverage `alpha`.
    pub(crate) fn blend(&mut self, x: u32, y: u32, color: u32, alpha: u32) {
        match alpha {
            0 => {}
            255.. => self.set(x, y, color),
            a => {
                let under = self.get(x, y);
                self.set(x, y, blend(under, color, a));
            }
        }
    }

    /// Fills `r` (clipped).
    pub(crate) fn fill(&mut self, r: &Rect, color: u32) {
        let Some(r) = self.clip(r) else { return };
        let px = (color & 0x00ff_ffff).to_le_bytes();
        for y in r.y..r.y + r.height {
            if let Some(row) = self.row_mut(y, r.x, r.width) {
                for dst in row.chunks_exact_mut(BPP) {
                    dst.copy_from_slice(&px);
                }
            }
        }
    }

    /// The bytes of `width` pixels of row `y` from column `x`, if inside.
    pub(crate) fn row_mut(&mut self, y: u32, x: u32, width: u32) -> Option<&mut [u8]> {
        if y >= self.height || x.checked_add(width)? > self.width {
            return None;
        }
        let at = self.offset(x, y);
        self.buf.get_mut(at..at + width as usize * BPP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_outside_are_ignored_and_x_stays_zero() {
        let mut buf = vec![0xffu8; 4 * 4 * 4];
        let mut c = Canvas::new(&mut buf, 4, 4);
        c.set(4, 0, 0x123456);
        c.set(0, 9, 0x123456);
        c.fill(&rect(2, 2, 10, 10), 0xff_abcdef);
        assert_eq!(c.get(3, 3), 0xabcdef);
        assert_eq!(c.get(1, 1), 0xffffff);
        assert_eq!(buf[(3 * 4 + 3) * 4 + 3], 0);
    }
}
