//! Rectangle arithmetic on [`Rect`], saturating so that no input can
//! overflow.

use spicebox_shm::Rect;

/// Shorthand constructor.
pub(crate) const fn rect(x: u32, y: u32, width: u32, height: u32) -> Rect {
    Rect {
        x,
        y,
        width,
        height,
    }
}

/// One past the right column.
pub(crate) fn right(r: &Rect) -> u32 {
    r.x.saturating_add(r.width)
}

/// One past the bottom row.
pub(crate) fn bottom(r: &Rect) -> u32 {
    r.y.saturating_add(r.height)
}

/// The overlap of two rectangles, if not empty.
pub(crate) fn intersect(a: &Rect, b: &Rect) -> Option<Rect> {
    let x0 = a.x.max(b.x);
    let y0 = a.y.max(b.y);
    let x1 = right(a).min(right(b));
    let y1 = bottom(a).min(bottom(b));
    (x1 > x0 && y1 > y0).then(|| rect(x0, y0, x1 - x0, y1 - y0))
}

/// The smallest rectangle covering both.
pub(crate) fn union(a: &Rect, b: &Rect) -> Rect {
    let x0 = a.x.min(b.x);
    let y0 = a.y.min(b.y);
    let x1 = right(a).max(right(b));
    let y1 = bottom(a).max(bottom(b));
    rect(x0, y0, x1 - x0, y1 - y0)
}

/// Whether the rectangles overlap or share an edge.
pub(crate) fn touches(a: &Rect, b: &Rect) -> bool {
    a.x <= right(b) && b.x <= right(a) && a.y <= bottom(b) && b.y <= bottom(a)
}

/// Pixel count, widened so it cannot overflow.
pub(crate) fn area(r: &Rect) -> u64 {
    u64::from(r.width) * u64::from(r.height)
}

/// Shrinks a rectangle by `by` on every side (never below zero size).
pub(crate) fn inset(r: &Rect, by: u32) -> Rect {
    let width = r.width.saturating_sub(by.saturating_mul(2));
    let height = r.height.saturating_sub(by.saturating_mul(2));
    rect(
        r.x.saturating_add(by),
        r.y.saturating_add(by),
        width,
        height,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersect_and_union() {
        let a = rect(0, 0, 10, 10);
        let b = rect(5, 5, 10, 10);
        assert_eq!(intersect(&a, &b), Some(rect(5, 5, 5, 5)));
        assert_eq!(union(&a, &b), rect(0, 0, 15, 15));
        assert_eq!(intersect(&a, &rect(10, 0, 5, 5)), None);
        assert!(touches(&a, &rect(10, 0, 5, 5)));
        assert!(!touches(&a, &rect(11, 0, 5, 5)));
    }
}
