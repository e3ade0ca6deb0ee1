//! The full-screen diagonal gradient, ordered-dithered so that its long
//! ramps show no bands.

use crate::draw::canvas::{Canvas, BPP};

/// Corner and middle colours, top-left to bottom-right.
const STOPS: [[u32; 3]; 3] = [[16, 22, 46], [36, 76, 118], [88, 58, 106]];

/// 4x4 Bayer matrix, scaled to 1/16 steps of one colour level.
const BAYER: [[u32; 4]; 4] = [[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]];

/// Diagonal positions: 0..=510 across the screen.
const STEPS: usize = 511;

/// Colour per diagonal step, in 8.8 fixed point per channel.
fn ramp() -> Vec<[u32; 3]> {
    (0..STEPS as u32)
        .map(|t| {
            let (from, to, f) = if t < 255 {
                (STOPS[0], STOPS[1], t)
            } else {
                (STOPS[1], STOPS[2], t - 255)
            };
            let ch = |i: usize| (from[i] * (255 - f.min(255)) + to[i] * f.min(255)) * 256 / 255;
            [ch(0), ch(1), ch(2)]
        })
        .collect()
}

/// Paints the gradient over the whole canvas.
pub(crate) fn paint(canvas: &mut Canvas<'_>) {
    let bounds = canvas.bounds();
    let (w, h) = (bounds.width.max(2), bounds.height.max(2));
    let lut = ramp();
    let tx: Vec<usize> = (0..w).map(|x| (x * 255 / (w - 1)) as usize).collect();
    for y in 0..bounds.height {
        let ty = (y * 255 / (h - 1)) as usize;
        let bayer = BAYER[(y % 4) as usize];
        let Some(row) = canvas.row_mut(y, 0, bounds.width) else {
            continue;
        };
        for (x, px) in row.chunks_exact_mut(BPP).enumerate() {
            let [r, g, b] = lut[(tx[x] + ty).min(STEPS - 1)];
            let d = bayer[x % 4] * 16;
            let ch = |v: u32| ((v + d) >> 8).min(255) as u8;
            px.copy_from_slice(&[ch(b), ch(g), ch(r), 0]);
        }
    }
}
