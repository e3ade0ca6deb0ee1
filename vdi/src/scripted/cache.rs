//! The `cache` scene: the same pixels painted again at other places, for
//! the pixmap cache.
//!
//! Steps, one tile each:
//! 1. tile A ([`SMALL_TILE`] square) at [`A_AT`];
//! 2. a different tile B at [`B_AT`];
//! 3. tile A again, identical pixels, at [`A_AGAIN_AT`];
//! 4. tiles T0..T47 ([`TILE`] square, all different) at [`tile_position`],
//!    one per step;
//! 5. T0..T9 again, identical pixels, at [`repaint_position`];
//! 6. T40..T47 again at [`repaint_position`].
//!
//! The scene needs a screen of at least [`MIN_SIZE`].
//!
//! Spacing: 48 tiles of 128x128 cover 77% of 1280x800, so they cannot all
//! be 70 or 80 px apart. They sit on an 8x6 grid ([`GRID_ORIGIN`],
//! [`GRID_PITCH`]): grid neighbours are 32 px apart across and 5 px down.
//! The order of the steps keeps the tiles of any two steps one or two apart
//! at least [`CONSECUTIVE_GAP`] px apart, so that the display worker's
//! damage merge (64x64 pixels of slack) cannot join the tiles of steps
//! that are pending together unless the client falls three frames behind.

use super::paint::{Fill, Paint};
use crate::draw::geom::rect;

/// Side of tiles A and B.
pub const SMALL_TILE: u32 = 96;
/// Where step 1 paints tile A.
pub const A_AT: (u32, u32) = (100, 100);
/// Where step 2 paints tile B.
pub const B_AT: (u32, u32) = (300, 100);
/// Where step 3 paints tile A again.
pub const A_AGAIN_AT: (u32, u32) = (500, 100);
/// Side of tiles T0..T47.
pub const TILE: u32 = 128;
/// Number of tiles T0..T47.
pub const TILES: usize = 48;
/// Columns of the tile grid (it has `TILES / GRID_COLUMNS` rows).
pub const GRID_COLUMNS: u32 = 8;
/// Top-left corner of grid cell (0, 0).
pub const GRID_ORIGIN: (u32, u32) = (16, 2);
/// Distance between grid cells, across and down.
pub const GRID_PITCH: (u32, u32) = (160, 133);
/// Smallest gap, in pixels, between the tiles of two consecutive steps.
pub const CONSECUTIVE_GAP: u32 = 80;
/// Tiles painted a second time right after T47, in this order.
pub const REPAINTED_FIRST: std::ops::Range<usize> = 0..10;
/// Tiles painted a second time at the end, in this order.
pub const REPAINTED_LAST: std::ops::Range<usize> = 40..48;
/// The smallest screen the scene fits on.
pub const MIN_SIZE: (u32, u32) = (1280, 800);
/// Number of steps.
pub const STEPS: usize = 3 + TILES + REPAINTED_FIRST.end - REPAINTED_FIRST.start
    + REPAINTED_LAST.end
    - REPAINTED_LAST.start;

/// Content seed of tile A; B and T0..T47 follow it.
const SEED_A: u64 = 0x000c_ac4e_0000;

/// A tile of the scene.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheTile {
    /// The first small tile, painted twice.
    A,
    /// The second small tile.
    B,
    /// One of T0..T47.
    T(usize),
}

impl CacheTile {
    /// Its side in pixels.
    pub fn side(self) -> u32 {
        match self {
            CacheTile::A | CacheTile::B => SMALL_TILE,
            CacheTile::T(_) => TILE,
        }
    }

    pub(crate) fn fill(self) -> Fill {
        let (n, label) = match self {
            CacheTile::A => (0, *b"A "),
            CacheTile::B => (1, *b"B "),
            CacheTile::T(i) => (
                2 + i as u64,
                [b'0' + (i / 10 % 10) as u8, b'0' + (i % 10) as u8],
            ),
        };
        Fill::Tile {
            seed: SEED_A + n,
            label,
        }
    }
}

/// The grid cell (column, row) of `Ti`'s first painting. Each row is
/// walked with a stride of 3 columns starting at column 5 (5, 0, 3, 6, 1,
/// 4, 7, 2): consecutive tiles are at least two columns apart, and T0 and
/// T1 keep clear of tiles B and A painted just before them.
pub fn tile_cell(i: usize) -> (u32, u32) {
    let i = i as u32;
    ((i * 3 + 5) % GRID_COLUMNS, i / GRID_COLUMNS)
}

/// Top-left corner of `Ti`'s first painting.
pub fn tile_position(i: usize) -> (u32, u32) {
    cell_position(tile_cell(i))
}

fn cell_position((col, row): (u32, u32)) -> (u32, u32) {
    (
        GRID_ORIGIN.0 + col * GRID_PITCH.0,
        GRID_ORIGIN.1 + row * GRID_PITCH.1,
    )
}

/// Top-left corner of `Ti`'s second painting (only for the tiles in
/// [`REPAINTED_FIRST`] and [`REPAINTED_LAST`]): the cell of the tile 24
/// places further on, two or three rows away from where `Ti` was.
pub fn repaint_position(i: usize) -> Option<(u32, u32)> {
    let repainted = REPAINTED_FIRST.contains(&i) || REPAINTED_LAST.contains(&i);
    repainted.then(|| tile_position((i + TILES / 2) % TILES))
}

/// Every step's tile and top-left corner, in order.
pub fn plan() -> Vec<(CacheTile, (u32, u32))> {
    let mut out = vec![
        (CacheTile::A, A_AT),
        (CacheTile::B, B_AT),
        (CacheTile::A, A_AGAIN_AT),
    ];
    out.extend((0..TILES).map(|i| (CacheTile::T(i), tile_position(i))));
    for i in REPAINTED_FIRST.chain(REPAINTED_LAST) {
        if let Some(at) = repaint_position(i) {
            out.push((CacheTile::T(i), at));
        }
    }
    out
}

/// The steps, as paints.
pub(crate) fn steps() -> Vec<Vec<Paint>> {
    plan()
        .into_iter()
        .map(|(tile, (x, y))| {
            vec![Paint {
                rect: rect(x, y, tile.side(), tile.side()),
                fill: tile.fill(),
                alpha: None,
            }]
        })
        .collect()
}
