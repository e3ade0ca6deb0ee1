//! The `alpha` scene: a framebuffer whose fourth byte is alpha, so that
//! every image the display worker sends carries transparency the client
//! must keep (RGBA bitmaps, LZ/GLZ RGBA, QUIC RGBA, LZ4 RGBA, JPEG_ALPHA).
//!
//! The host publishes the mode as ARGB from the start and the frozen
//! desktop is shown opaque. Then one paint per step ([`plan`]):
//! 1. the whole screen, the `edges` backdrop with alpha rising down the
//!    screen;
//! 2. a photographic tile with alpha rising across it (QUIC in the auto
//!    modes);
//! 3. a mixed tile (flat runs, glyphs, noise) with alpha in five levels;
//! 4. a flat half-transparent tile;
//! 5. a noise tile with noisy alpha;
//! 6. 1x1, 1x33, 33x1, 17x9 and 31x7 tiles, one per step;
//! 7. tile 4 again elsewhere, identical pixels (a pixmap cache reference);
//! 8. tile 4's colour again, opaque: the same colour bytes must not be
//!    taken for the cached half-transparent tile;
//! 9. tile 4's colour fully transparent: the colour is still kept.
//!
//! Consecutive tiles are at least 80 px apart, so the display worker's
//! damage merge keeps them separate images unless the client lags.

use super::paint::{colour, Fill, Paint};
use crate::draw::geom::rect;

/// The smallest screen the scene fits on.
pub const MIN_SIZE: (u32, u32) = (1280, 800);
/// Seed of every colour and pattern of the scene.
const SEED: u64 = 0xa1fa_5eed;
/// Side of the flat tile of steps 4, 7 and 8.
pub const FLAT_TILE: u32 = 128;
/// Where step 4 paints the flat half-transparent tile.
pub const FLAT_AT: (u32, u32) = (40, 320);
/// Where step 7 paints it again, identical.
pub const FLAT_AGAIN_AT: (u32, u32) = (300, 320);
/// Where step 8 paints its colour opaque.
pub const FLAT_OPAQUE_AT: (u32, u32) = (300, 560);
/// The photographic tile of step 2: x, y, width, height.
pub const PHOTO_TILE: (u32, u32, u32, u32) = (40, 40, 240, 160);
/// Alpha of the flat tile.
pub const FLAT_ALPHA: u8 = 0x80;

/// How a tile's alpha varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AlphaShape {
    /// One value everywhere.
    Flat(u8),
    /// 0 at the left edge rising to 255 at the right.
    Across,
    /// 0 at the top rising to 255 at the bottom.
    Down,
    /// Five levels (0, 0x40, 0x80, 0xc0, 0xff) in runs along the rows.
    Levels,
    /// A hashed value per pixel.
    Noise(u64),
}

impl AlphaShape {
    /// The alpha of pixel `(x, y)` of a `width` x `height` rectangle.
    pub(crate) fn alpha(self, x: u32, y: u32, width: u32, height: u32) -> u8 {
        let ramp = |v: u32, n: u32| (u64::from(v) * 255 / u64::from(n.max(2) - 1)) as u8;
        match self {
            AlphaShape::Flat(a) => a,
            AlphaShape::Across => ramp(x, width),
            AlphaShape::Down => ramp(y, height),
            AlphaShape::Levels => {
                let run = (u64::from(y) * u64::from(width) + u64::from(x)) / 13;
                [0x00, 0x40, 0x80, 0xc0, 0xff][(run % 5) as usize]
            }
            AlphaShape::Noise(seed) => {
                (super::paint::mix64(seed ^ u64::from(x) << 20 ^ u64::from(y)) >> 40) as u8
            }
        }
    }
}

/// The paints, one list per step, on a screen of at least [`MIN_SIZE`].
pub(crate) fn plan(width: u32, height: u32) -> Vec<Vec<Paint>> {
    let one = |x, y, w, h, (fill, alpha)| {
        vec![Paint {
            rect: rect(x, y, w, h),
            fill,
            alpha: Some(alpha),
        }]
    };
    let flat = Fill::Flat(colour(SEED ^ 4));
    let mut steps = vec![
        one(
            0,
            0,
            width,
            height,
            (Fill::Backdrop(SEED), AlphaShape::Down),
        ),
        one(
            PHOTO_TILE.0,
            PHOTO_TILE.1,
            PHOTO_TILE.2,
            PHOTO_TILE.3,
            (Fill::Photo(SEED ^ 2), AlphaShape::Across),
        ),
        one(
            400,
            40,
            320,
            96,
            (Fill::Mixed(SEED ^ 3), AlphaShape::Levels),
        ),
        one(
            FLAT_AT.0,
            FLAT_AT.1,
            FLAT_TILE,
            FLAT_TILE,
            (flat, AlphaShape::Flat(FLAT_ALPHA)),
        ),
        one(
            800,
            40,
            64,
            64,
            (Fill::Mixed(SEED ^ 5), AlphaShape::Noise(SEED ^ 5)),
        ),
    ];
    let odd: [(u32, u32, u32, u32); 5] = [
        (1000, 40, 1, 1),
        (1100, 200, 1, 33),
        (1000, 320, 33, 1),
        (1100, 450, 17, 9),
        (1000, 600, 31, 7),
    ];
    for (i, (x, y, w, h)) in odd.into_iter().enumerate() {
        let seed = SEED ^ (0x60 + i as u64);
        steps.push(one(
            x,
            y,
            w,
            h,
            (Fill::Mixed(seed), AlphaShape::Noise(seed)),
        ));
    }
    steps.push(one(
        FLAT_AGAIN_AT.0,
        FLAT_AGAIN_AT.1,
        FLAT_TILE,
        FLAT_TILE,
        (flat, AlphaShape::Flat(FLAT_ALPHA)),
    ));
    steps.push(one(
        FLAT_OPAQUE_AT.0,
        FLAT_OPAQUE_AT.1,
        FLAT_TILE,
        FLAT_TILE,
        (flat, AlphaShape::Flat(0xff)),
    ));
    steps.push(one(600, 600, 64, 64, (flat, AlphaShape::Flat(0))));
    steps
}
