//! The pointer: its position (server mouse mode, clamped to the screen)
//! and its arrow shape, which travels as a cursor image, not in the frame.

use crate::draw::sprite::Sprite;

/// Side of the cursor image.
pub(crate) const CURSOR_SIZE: u32 = 24;
/// The hot spot: the arrow's tip.
pub(crate) const HOT_SPOT: (u32, u32) = (1, 1);

/// The classic arrow, in pixel units, tip first.
const ARROW: [(f32, f32); 7] = [
    (1.0, 1.0),
    (1.0, 18.0),
    (5.2, 14.2),
    (8.4, 21.0),
    (11.2, 19.8),
    (8.1, 13.2),
    (13.6, 13.2),
];

fn inside(px: f32, py: f32) -> bool {
    // Even-odd rule: count edge crossings of a ray to the right.
    let mut inside = false;
    let previous = ARROW.iter().cycle().skip(ARROW.len() - 1);
    for (&(xi, yi), &(xj, yj)) in ARROW.iter().zip(previous) {
        if (yi > py) != (yj > py) && px < (xj - xi) * (py - yi) / (yj - yi) + xi {
            inside = !inside;
        }
    }
    inside
}

fn edge_distance(px: f32, py: f32) -> f32 {
    let mut best = f32::MAX;
    let next = ARROW.iter().cycle().skip(1);
    for (&(ax, ay), &(bx, by)) in ARROW.iter().zip(next) {
        let (dx, dy) = (bx - ax, by - ay);
        let t = (((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
        best = best.min((px - ax - t * dx).hypot(py - ay - t * dy));
    }
    best
}

/// Coverage of the white fill and of the black outline at one sample.
fn sample(px: f32, py: f32) -> (f32, f32) {
    let d = edge_distance(px, py);
    match (inside(px, py), d) {
        (true, d) if d > 1.1 => (1.0, 0.0),
        (true, _) => (0.0, 1.0),
        (false, d) if d < 0.45 => (0.0, 1.0),
        _ => (0.0, 0.0),
    }
}

/// Draws the arrow with a soft drop shadow, 4x4 supersampled.
pub(crate) fn arrow_sprite() -> Sprite {
    const SAMPLES: u32 = 4;
    let mut sprite = Sprite::new(CURSOR_SIZE, CURSOR_SIZE);
    let n = (SAMPLES * SAMPLES) as f32;
    for y in 0..CURSOR_SIZE {
        for x in 0..CURSOR_SIZE {
            let (mut white, mut black, mut shade) = (0.0, 0.0, 0.0);
            for sy in 0..SAMPLES {
                for sx in 0..SAMPLES {
                    let px = x as f32 + (sx as f32 + 0.5) / SAMPLES as f32;
                    let py = y as f32 + (sy as f32 + 0.5) / SAMPLES as f32;
                    let (w, b) = sample(px, py);
                    white += w;
                    black += b;
                    // The shadow is the whole arrow shifted down-right.
                    let (sw, sb) = sample(px - 1.5, py - 2.0);
                    shade += sw + sb;
                }
            }
            let (white, black, shade) = (white / n, black / n, shade / n * 0.35);
            let arrow = white + black;
            let alpha = arrow + shade * (1.0 - arrow);
            if alpha <= 0.0 {
                continue;
            }
            // Straight alpha: the colour is the arrow's own where it covers,
            // black (shadow) elsewhere.
            let grey = if arrow > 0.0 {
                255.0 * white / arrow
            } else {
                0.0
            };
            let g = grey.round().clamp(0.0, 255.0) as u32;
            let a = (alpha * 255.0).round().clamp(0.0, 255.0) as u32;
            sprite.set(x, y, a << 24 | g << 16 | g << 8 | g);
        }
    }
    sprite
}

/// Where the pointer is, kept on screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pointer {
    x: i32,
    y: i32,
    max_x: i32,
    max_y: i32,
}

impl Pointer {
    /// A pointer in the middle of a `width` x `height` screen.
    pub(crate) fn new(width: u32, height: u32) -> Pointer {
        let max_x = i32::try_from(width.saturating_sub(1)).unwrap_or(i32::MAX);
        let max_y = i32::try_from(height.saturating_sub(1)).unwrap_or(i32::MAX);
        Pointer {
            x: max_x / 2,
            y: max_y / 2,
            max_x,
            max_y,
        }
    }

    /// Current position.
    pub(crate) fn position(&self) -> (i32, i32) {
        (self.x, self.y)
    }

    /// Relative motion, clamped to the screen.
    pub(crate) fn move_by(&mut self, dx: i32, dy: i32) {
        self.x = self.x.saturating_add(dx).clamp(0, self.max_x);
        self.y = self.y.saturating_add(dy).clamp(0, self.max_y);
    }

    /// Absolute position, clamped to the screen.
    pub(crate) fn move_to(&mut self, x: u32, y: u32) {
        self.x = i32::try_from(x).unwrap_or(i32::MAX).min(self.max_x);
        self.y = i32::try_from(y).unwrap_or(i32::MAX).min(self.max_y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn motion_and_positions_are_clamped() {
        let mut p = Pointer::new(100, 50);
        assert_eq!(p.position(), (49, 24));
        p.move_by(-1000, i32::MIN);
        assert_eq!(p.position(), (0, 0));
        p.move_by(i32::MAX, 10);
        assert_eq!(p.position(), (99, 10));
        p.move_to(u32::MAX, 7);
        assert_eq!(p.position(), (99, 7));
    }

    #[test]
    fn the_arrow_has_an_opaque_outline_at_its_tip_and_clear_corners() {
        let s = arrow_sprite();
        let (hx, hy) = HOT_SPOT;
        assert!(s.get(hx, hy) >> 24 > 128);
        assert_eq!(s.get(CURSOR_SIZE - 1, 0) >> 24, 0);
        // Inside the body: white and opaque.
        assert_eq!(s.get(4, 10), 0xffff_ffff);
    }
}
