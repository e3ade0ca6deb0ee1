//! What a scripted step paints: content that is a pure function of a seed
//! and the pixel's position inside its own rectangle, so a tile painted
//! twice (anywhere) has identical pixels.
//!
//! The mixes are chosen for the image codecs: flat runs (run-length paths),
//! glyph rows that repeat (LZ/GLZ matches) and hashed noise (literals, and
//! photographic-looking content for QUIC).

use font8x8::legacy::BASIC_LEGACY;
use spicebox_shm::Rect;

use super::alpha::AlphaShape;
use crate::draw::canvas::BPP;
use crate::draw::color::rgb;

/// Characters the glyph content is drawn from.
const TEXT: &[u8] = b"spicebox edges 0123456789 The quick brown fox jumps; {}[]<>#%&@";
/// Length of each flat / glyph / noise run in [`Fill::Mixed`], in pixels
/// along the rows; 11 so runs do not line up with 8-pixel glyph cells or
/// 4/8/16-pixel codec blocks.
const MIXED_RUN: u64 = 11;

/// Content of one painted rectangle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fill {
    /// One colour (0x00RRGGBB).
    Flat(u32),
    /// Runs of flat colour, text glyphs and noise, seeded.
    Mixed(u64),
    /// Smooth shading with a little noise on every pixel: no two neighbours
    /// alike, so the auto modes take it for a photo (QUIC).
    Photo(u64),
    /// The full-screen picture of the `edges` scene: text, smooth shading,
    /// flat stripes and noise in four quadrants.
    Backdrop(u64),
    /// A cache-scene tile: a pattern chosen by `seed` with a two-character
    /// `label` written on it, so that no two tiles share pixels by accident.
    Tile {
        /// Chooses the colours and the bands.
        seed: u64,
        /// Written in the top-left corner.
        label: [u8; 2],
    },
}

/// One rectangle of a step and what goes into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Paint {
    pub(crate) rect: Rect,
    pub(crate) fill: Fill,
    /// The fourth byte of each pixel: alpha when set, else 0 (padding).
    pub(crate) alpha: Option<AlphaShape>,
}

impl Paint {
    /// Renders the rectangle as B,G,R,X rows (B,G,R,A with an alpha shape).
    pub(crate) fn render(&self) -> Vec<u8> {
        let (width, height) = (self.rect.width, self.rect.height);
        let mut out = self.fill.render(width, height);
        if let Some(shape) = self.alpha {
            for (i, px) in out.chunks_exact_mut(BPP).enumerate() {
                let (x, y) = ((i % width as usize) as u32, (i / width as usize) as u32);
                px[3] = shape.alpha(x, y, width, height);
            }
        }
        out
    }
}

/// A well-mixed 64-bit hash (SplitMix64 finaliser).
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A noise colour for pixel `(x, y)` of content `seed`.
pub(crate) fn noise(seed: u64, x: u32, y: u32) -> u32 {
    let h = mix64(seed ^ (u64::from(x) << 32 | u64::from(y)).wrapping_mul(0x2545_f491_4f6c_dd1d));
    (h & 0x00ff_ffff) as u32
}

/// A saturated colour picked by `seed` (for flat areas and glyphs).
pub(crate) fn colour(seed: u64) -> u32 {
    let h = mix64(seed);
    // Keep every channel away from the middle so neighbours contrast.
    let ch = |shift: u32| {
        let base: u8 = if (h >> shift) & 1 == 1 { 0xe0 } else { 0x20 };
        base ^ ((h >> (shift + 8)) as u8 & 0x1f)
    };
    rgb(ch(0), ch(1), ch(2))
}

/// Whether glyph pixel `(x, y)` of character cell `cell` is set (8x8 font,
/// scale 1).
pub(crate) fn glyph_bit(cell: u64, x: u32, y: u32) -> bool {
    let ch = TEXT[(cell % TEXT.len() as u64) as usize];
    let rows = BASIC_LEGACY.get(usize::from(ch)).copied().unwrap_or([0; 8]);
    rows[(y % 8) as usize] >> (x % 8) & 1 == 1
}

impl Fill {
    /// The colour of pixel `(x, y)` of a `width` x `height` rectangle.
    pub(crate) fn pixel(&self, x: u32, y: u32, width: u32, height: u32) -> u32 {
        match *self {
            Fill::Flat(c) => c,
            Fill::Mixed(seed) => mixed(seed, x, y, width),
            Fill::Photo(seed) => photo(seed, x, y),
            Fill::Backdrop(seed) => backdrop(seed, x, y, width, height),
            Fill::Tile { seed, label } => tile(seed, label, x, y),
        }
    }

    /// Renders a `width` x `height` rectangle as B,G,R,X rows.
    pub(crate) fn render(&self, width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(width as usize * height as usize * BPP);
        for y in 0..height {
            for x in 0..width {
                out.extend_from_slice(&self.pixel(x, y, width, height).to_le_bytes());
            }
        }
        out
    }
}

/// Flat, glyph and noise runs following each other along the rows.
fn mixed(seed: u64, x: u32, y: u32, width: u32) -> u32 {
    let index = u64::from(y) * u64::from(width) + u64::from(x);
    match (index / MIXED_RUN + seed) % 3 {
        0 => colour(seed),
        1 => {
            let cell = u64::from(x / 8) + u64::from(y / 8) * 7 + seed;
            if glyph_bit(cell, x, y) {
                colour(seed ^ 0xf00d)
            } else {
                colour(seed ^ 0xbeef)
            }
        }
        _ => noise(seed, x, y),
    }
}

/// A smooth gradient dithered by up to 7 per channel.
fn photo(seed: u64, x: u32, y: u32) -> u32 {
    let jitter = noise(seed, x, y);
    let ch = |base: u32, shift: u32| (base.min(248) + (jitter >> shift & 7)) as u8;
    rgb(
        ch(60 + x * 2, 0),
        ch(40 + y * 3, 8),
        ch(200u32.saturating_sub(x + y), 16),
    )
}

/// The `edges` scene's full-screen picture.
fn backdrop(seed: u64, x: u32, y: u32, width: u32, height: u32) -> u32 {
    let (left, top) = (x < width / 2, y < height / 2);
    match (left, top) {
        // Text page: 12-pixel lines of glyphs on alternating shades.
        (true, true) => {
            let line = u64::from(y / 12);
            let bg = if line % 2 == 0 {
                rgb(24, 28, 36)
            } else {
                rgb(30, 34, 44)
            };
            if y % 12 < 8 && glyph_bit(u64::from(x / 8) * 13 + line * 31 + seed, x, y) {
                colour(seed ^ line)
            } else {
                bg
            }
        }
        // Smooth shading: photographic for the codecs that tell apart.
        (false, true) => {
            let r = (x * 255 / width.max(1)) as u8;
            let g = (y * 511 / height.max(1)) as u8;
            let b = ((x + y) / 3 % 256) as u8;
            rgb(r, g, b)
        }
        // Flat stripes of varying widths: long runs.
        (true, false) => colour(seed ^ u64::from(x / (5 + y / 40 % 7))),
        (false, false) => noise(seed, x, y),
    }
}

/// A cache tile: diagonal bands of two colours and a noise border, chosen
/// by `id`, and its label in glyphs.
fn tile(id: u64, label: [u8; 2], x: u32, y: u32) -> u32 {
    if x < 3 || y < 3 {
        return noise(id, x, y);
    }
    if (8..16).contains(&y) && (8..24).contains(&x) {
        let ch = label[((x - 8) / 8) as usize];
        let rows = BASIC_LEGACY.get(usize::from(ch)).copied().unwrap_or([0; 8]);
        if rows[(y - 8) as usize] >> ((x - 8) % 8) & 1 == 1 {
            return rgb(255, 255, 255);
        }
    }
    let band = (x + y * (1 + (id % 3) as u32)) / (4 + (id % 5) as u32);
    colour(id.wrapping_mul(2).wrapping_add(u64::from(band % 2)))
}

/// Copies `pixels` (B,G,R,X rows of `rect.width`) into `frame` (a
/// `frame_width`-wide picture) at `rect`; rows outside the frame are lost.
pub(crate) fn blit(frame: &mut [u8], frame_width: u32, rect: &Rect, pixels: &[u8]) {
    let row_bytes = rect.width as usize * BPP;
    let stride = frame_width as usize * BPP;
    for (i, src) in pixels.chunks_exact(row_bytes.max(1)).enumerate() {
        let y = rect.y as usize + i;
        let start = y * stride + rect.x as usize * BPP;
        if let Some(dst) = frame.get_mut(start..start + row_bytes) {
            dst.copy_from_slice(src);
        }
    }
}
