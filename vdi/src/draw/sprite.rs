//! Pictures with straight alpha (`0xAARRGGBB`), drawn once and then blended
//! onto the frame wherever they are placed.

use spicebox_shm::Rect;

use super::canvas::{Canvas, BPP};
use super::color::blend;
use super::geom::{intersect, rect};

/// A picture with per-pixel coverage.
#[derive(Clone, Debug)]
pub(crate) struct Sprite {
    pub width: u32,
    pub height: u32,
    /// Row-major `0xAARRGGBB`.
    pub pixels: Vec<u32>,
}

impl Sprite {
    /// A fully transparent sprite.
    pub(crate) fn new(width: u32, height: u32) -> Sprite {
        Sprite {
            width,
            height,
            pixels: vec![0; width as usize * height as usize],
        }
    }

    /// The pixel at `(x, y)`, transparent outside.
    pub(crate) fn get(&self, x: u32, y: u32) -> u32 {
        if x >= self.width || y >= self.height {
            return 0;
        }
        self.pixels
            .get(y as usize * self.width as usize + x as usize)
            .copied()
            .unwrap_or(0)
    }

    /// Sets one pixel; ignored outside.
    pub(crate) fn set(&mut self, x: u32, y: u32, argb: u32) {
        if x >= self.width || y >= self.height {
            return;
        }
        let at = y as usize * self.width as usize + x as usize;
        if let Some(px) = self.pixels.get_mut(at) {
            *px = argb;
        }
    }

    /// Blends the part of the sprite placed at `(at_x, at_y)` that falls
    /// inside `clip` onto `canvas`.
    pub(crate) fn draw(&self, canvas: &mut Canvas<'_>, at_x: u32, at_y: u32, clip: &Rect) {
        let placed = rect(at_x, at_y, self.width, self.height);
        let Some(area) = intersect(&placed, clip) else {
            return;
        };
        let stride = self.width as usize;
        for y in area.y..area.y + area.height {
            let start = (y - at_y) as usize * stride + (area.x - at_x) as usize;
            let (Some(src), Some(dst)) = (
                self.pixels.get(start..start + area.width as usize),
                canvas.row_mut(y, area.x, area.width),
            ) else {
                continue;
            };
            for (px, out) in src.iter().zip(dst.chunks_exact_mut(BPP)) {
                let alpha = px >> 24;
                if alpha == 0 {
                    continue;
                }
                let color = if alpha == 255 {
                    px & 0x00ff_ffff
                } else {
                    let under = u32::from_le_bytes([out[0], out[1], out[2], 0]);
                    blend(under, px & 0x00ff_ffff, alpha)
                };
                out.copy_from_slice(&color.to_le_bytes());
            }
        }
    }

    /// Bytes B,G,R,A per pixel, rows packed: the cursor wire format.
    pub(crate) fn to_bgra(&self) -> Vec<u8> {
        self.pixels.iter().flat_map(|px| px.to_le_bytes()).collect()
    }
}
