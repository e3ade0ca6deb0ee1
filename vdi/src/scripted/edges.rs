//! The `edges` scene: image sizes that codecs get wrong.
//!
//! Step 1 repaints the whole screen with new content. Then one tile per
//! step: 1x1 pixels, 1xN and Nx1 lines (up to the full screen height and
//! width, along the right and bottom edges), and widths 1..=17, 31, 33, 63
//! and 65 with odd heights, each mixing flat runs, glyphs and noise (but
//! the 65-wide one, a dithered gradient the auto modes send as QUIC). The
//! last step paints many small rectangles at once between the tiles. The
//! full-screen step comes first so that the final picture still shows every
//! tile.
//!
//! Tiles sit in grid cells whose pitch leaves [`GAP`] pixels between any
//! two of them, and the tiles of [`SEPARATED_STEPS`] consecutive steps never
//! share a grid row or column, so they are [`GAP`] pixels apart in both
//! directions. That keeps the display worker's damage merge (which joins
//! rectangles when their bounding box wastes at most 64x64 pixels) from
//! joining tiles that are pending at the same time because the client lags
//! a few frames: 80 px in one direction alone is not enough for a 1-pixel
//! high tile, since the waste is only 80 x 1.

use spicebox_shm::Rect;

use super::paint::{colour, Fill, Paint};
use super::SceneError;
use crate::draw::geom::{intersect, rect};
use crate::draw::rng::Rng;

/// Pixels between the tiles of any two steps.
pub const GAP: u32 = 80;
/// Consecutive steps whose tiles never share a grid row or column.
pub const SEPARATED_STEPS: usize = 3;
/// Rectangles painted by the last step.
pub const SMALL_UPDATES: usize = 300;
/// Smallest and largest side of those rectangles.
pub const SMALL_SIDES: (u32, u32) = (2, 9);

/// Distance of the first cell from the screen's top-left corner.
const MARGIN: u32 = 8;
/// The largest tile placed in a cell.
const CELL_TILE: (u32, u32) = (65, 67);
/// Pixels kept free around each tile by the small updates, so every tile
/// stays visible whole in the final picture.
const KEEP_CLEAR: u32 = 2;
/// Seed of every colour and pattern of the scene.
const SEED: u64 = 0x5eed_ed6e;

/// One tile: its size and content; `None` position means "a grid cell".
struct Tile {
    width: u32,
    height: u32,
    fill: Fill,
    /// Fixed position for the full-length lines; cells for the rest.
    at: Option<(u32, u32)>,
}

/// The tiles in step order.
fn tiles(width: u32, height: u32) -> Vec<Tile> {
    let cell = |w: u32, h: u32, seed: u64| Tile {
        width: w,
        height: h,
        fill: Fill::Mixed(SEED ^ seed),
        at: None,
    };
    let mut out = Vec::new();
    // Single pixels in colours the backdrop does not use.
    for c in [0x00ff_0000, 0x0000_ff00, 0x0000_00ff, 0x00ff_ffff] {
        out.push(Tile {
            width: 1,
            height: 1,
            fill: Fill::Flat(c),
            at: None,
        });
    }
    out.extend([cell(1, 2, 1), cell(2, 1, 2), cell(1, 64, 3), cell(64, 1, 4)]);
    // The full-length lines: along the right and bottom edges.
    out.push(Tile {
        width: 1,
        height,
        fill: Fill::Mixed(SEED ^ 5),
        at: Some((width - 1, 0)),
    });
    out.push(Tile {
        width,
        height: 1,
        fill: Fill::Mixed(SEED ^ 6),
        at: Some((0, height - 1)),
    });
    // Widths that are not multiples of 2, 4 or 8, with odd heights.
    for w in 1..=17u32 {
        out.push(cell(w, 2 * w + 1, 100 + u64::from(w)));
    }
    for (w, h) in [(31, 47), (33, 65), (63, 33)] {
        out.push(cell(w, h, 200 + u64::from(w)));
    }
    // The one tile large enough for the auto modes' photo test (64x64
    // pixels at least): photographic, so they send it as QUIC.
    out.push(Tile {
        width: 65,
        height: 67,
        fill: Fill::Photo(SEED ^ 265),
        at: None,
    });
    out
}

/// The grid of cells: (columns, rows, pitch x, pitch y). The last cell
/// keeps [`GAP`] pixels to the full-length lines on the last column / row.
fn grid(width: u32, height: u32) -> (u32, u32, u32, u32) {
    let (px, py) = (CELL_TILE.0 + GAP, CELL_TILE.1 + GAP);
    let fit = |size: u32, tile: u32, pitch: u32| {
        // Room for the first cell's tile, the gap and the 1-pixel line.
        match size.checked_sub(MARGIN + tile + GAP + 1) {
            Some(rest) => rest / pitch + 1,
            None => 0,
        }
    };
    (
        fit(width, CELL_TILE.0, px),
        fit(height, CELL_TILE.1, py),
        px,
        py,
    )
}

/// Picks a cell for each grid tile by walking the grid diagonally: tile
/// `k` goes to column `k % cols`, row `k % rows`. With coprime sides the
/// walk visits every cell once, and tiles fewer than
/// [`SEPARATED_STEPS`] apart never share a row or column.
fn assign_cells(count: usize, cols: u32, rows: u32) -> Option<Vec<(u32, u32)>> {
    let mut cols = cols;
    while cols > 1 && gcd(cols, rows) != 1 {
        cols -= 1;
    }
    let separated = SEPARATED_STEPS as u32;
    let enough = u64::from(cols) * u64::from(rows) >= count as u64;
    if cols < separated || rows < separated || !enough {
        return None;
    }
    Some((0..count as u32).map(|k| (k % cols, k % rows)).collect())
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The steps of the scene on a `width` x `height` screen.
pub(crate) fn plan(width: u32, height: u32) -> Result<Vec<Vec<Paint>>, SceneError> {
    let too_small = || SceneError::DoesNotFit {
        scene: "edges",
        width,
        height,
    };
    let tiles = tiles(width, height);
    let (cols, rows, px, py) = grid(width, height);
    let in_cells = tiles.iter().filter(|t| t.at.is_none()).count();
    let cells = assign_cells(in_cells, cols, rows).ok_or_else(too_small)?;
    let mut cells = cells.into_iter();
    let mut steps = vec![vec![Paint {
        rect: rect(0, 0, width, height),
        fill: Fill::Backdrop(SEED),
        alpha: None,
    }]];
    let mut placed = Vec::new();
    for t in &tiles {
        let (x, y) = match t.at {
            Some(at) => at,
            None => {
                let (c, r) = cells.next().ok_or_else(too_small)?;
                (MARGIN + c * px, MARGIN + r * py)
            }
        };
        let r = rect(x, y, t.width, t.height);
        placed.push(r);
        steps.push(vec![Paint {
            rect: r,
            fill: t.fill,
            alpha: None,
        }]);
    }
    steps.push(small_updates(width, height, &placed));
    Ok(steps)
}

/// [`SMALL_UPDATES`] rectangles anywhere on the screen except near the
/// tiles; they may overlap each other.
fn small_updates(width: u32, height: u32, tiles: &[Rect]) -> Vec<Paint> {
    let mut rng = Rng::new(SEED, 7);
    let mut out = Vec::with_capacity(SMALL_UPDATES);
    let screen = rect(0, 0, width, height);
    // Bounded: at worst the scene ends with fewer rectangles.
    for _ in 0..SMALL_UPDATES * 100 {
        if out.len() == SMALL_UPDATES {
            break;
        }
        let w = rng.range(SMALL_SIDES.0, SMALL_SIDES.1);
        let h = rng.range(SMALL_SIDES.0, SMALL_SIDES.1);
        let r = rect(
            rng.below(width.saturating_sub(w)),
            rng.below(height.saturating_sub(h)),
            w,
            h,
        );
        let grown = rect(
            r.x.saturating_sub(KEEP_CLEAR),
            r.y.saturating_sub(KEEP_CLEAR),
            w + 2 * KEEP_CLEAR,
            h + 2 * KEEP_CLEAR,
        );
        if intersect(&r, &screen) != Some(r) || tiles.iter().any(|t| intersect(t, &grown).is_some())
        {
            continue;
        }
        let i = out.len() as u64;
        let fill = if i.is_multiple_of(2) {
            Fill::Flat(colour(SEED ^ (1000 + i)))
        } else {
            Fill::Mixed(SEED ^ (1000 + i))
        };
        out.push(Paint {
            rect: r,
            fill,
            alpha: None,
        });
    }
    out
}
