//! Anti-aliased rounded rectangles and soft shadows for the static parts of
//! the picture and the window sprite. Drawn once, so floats are fine.

use spicebox_shm::Rect;

use super::canvas::Canvas;
use super::geom::rect;
use super::sprite::Sprite;

/// Anything shapes can be blended onto.
pub(crate) trait Surface {
    /// Blends `color` over the pixel with coverage `alpha` (0..=255).
    fn blend_px(&mut self, x: u32, y: u32, color: u32, alpha: u32);
}

impl Surface for Canvas<'_> {
    fn blend_px(&mut self, x: u32, y: u32, color: u32, alpha: u32) {
        self.blend(x, y, color, alpha);
    }
}

impl Surface for Sprite {
    fn blend_px(&mut self, x: u32, y: u32, color: u32, alpha: u32) {
        // Porter-Duff "over" with straight alpha.
        let under = self.get(x, y);
        let a_top = alpha.min(255) as f32 / 255.0;
        let a_under = (under >> 24) as f32 / 255.0;
        let a_out = a_top + a_under * (1.0 - a_top);
        if a_out <= 0.0 {
            return;
        }
        let channel = |shift: u32| {
            let top = ((color >> shift) & 0xff) as f32;
            let bottom = ((under >> shift) & 0xff) as f32;
            let c = (top * a_top + bottom * a_under * (1.0 - a_top)) / a_out;
            (c.round().clamp(0.0, 255.0) as u32) << shift
        };
        let alpha_out = ((a_out * 255.0).round() as u32) << 24;
        self.set(x, y, alpha_out | channel(16) | channel(8) | channel(0));
    }
}

/// Signed distance from the centre of pixel `(x, y)` to the edge of `r` with
/// corners of `radius`: negative inside.
pub(crate) fn rounded_distance(x: u32, y: u32, r: &Rect, radius: f32) -> f32 {
    let half_w = r.width as f32 / 2.0;
    let half_h = r.height as f32 / 2.0;
    let radius = radius.min(half_w).min(half_h);
    let cx = r.x as f32 + half_w;
    let cy = r.y as f32 + half_h;
    let qx = (x as f32 + 0.5 - cx).abs() - (half_w - radius);
    let qy = (y as f32 + 0.5 - cy).abs() - (half_h - radius);
    let outside = qx.max(0.0).hypot(qy.max(0.0));
    outside + qx.max(qy).min(0.0) - radius
}

/// Fills `r` with rounded, anti-aliased corners.
pub(crate) fn fill_rounded(s: &mut impl Surface, r: &Rect, radius: f32, color: u32, alpha: u32) {
    for y in r.y..r.y + r.height {
        for x in r.x..r.x + r.width {
            let coverage = (0.5 - rounded_distance(x, y, r, radius)).clamp(0.0, 1.0);
            let a = (coverage * alpha as f32).round() as u32;
            if a > 0 {
                s.blend_px(x, y, color, a);
            }
        }
    }
}

/// A soft dark shadow around `r` (shifted down by `drop`), fading out over
/// `spread` pixels. Pixels under `r` itself are left alone.
pub(crate) fn shadow(
    s: &mut impl Surface,
    r: &Rect,
    radius: f32,
    spread: u32,
    drop: u32,
    strength: u32,
) {
    let cast = rect(r.x, r.y + drop, r.width, r.height);
    let x0 = r.x.saturating_sub(spread);
    let y0 = r.y.saturating_sub(spread);
    let x1 = r.x + r.width + spread;
    let y1 = r.y + r.height + drop + spread;
    for y in y0..y1 {
        for x in x0..x1 {
            if rounded_distance(x, y, r, radius) < 0.0 {
                continue;
            }
            let d = rounded_distance(x, y, &cast, radius).max(0.0);
            let fade = (1.0 - d / spread.max(1) as f32).max(0.0);
            let a = (strength as f32 * fade * fade).round() as u32;
            if a > 0 {
                s.blend_px(x, y, 0, a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_sign() {
        let r = rect(10, 10, 20, 10);
        assert!(rounded_distance(20, 15, &r, 3.0) < 0.0);
        assert!(rounded_distance(5, 15, &r, 3.0) > 0.0);
        // The very corner pixel is cut off by the rounding.
        assert!(rounded_distance(10, 10, &r, 4.0) > 0.0);
    }

    #[test]
    fn sprite_over_accumulates_alpha() {
        let mut s = Sprite::new(1, 1);
        s.blend_px(0, 0, 0xff0000, 128);
        s.blend_px(0, 0, 0x0000ff, 128);
        let px = s.get(0, 0);
        assert!(px >> 24 > 180);
        assert!(px & 0xff > (px >> 16) & 0xff);
    }
}
