//! Accumulated damage of one client: a short list of rectangles, merged
//! where merging costs few extra pixels, so that a burst of small updates
//! becomes a few draws and the latest pixels are what gets sent.

use spicebox_shm::Rect;

/// Beyond this many pending rectangles, they collapse into their bounding
/// box: one large draw is cheaper than many tiny ones.
const MAX_RECTS: usize = 32;

/// Extra pixels a merge may add beyond the two areas.
const MERGE_SLACK: u64 = 64 * 64;

fn area(r: &Rect) -> u64 {
    u64::from(r.width) * u64::from(r.height)
}

fn union(a: &Rect, b: &Rect) -> Rect {
    let x0 = a.x.min(b.x);
    let y0 = a.y.min(b.y);
    let x1 = (a.x + a.width).max(b.x + b.width);
    let y1 = (a.y + a.height).max(b.y + b.height);
    Rect {
        x: x0,
        y: y0,
        width: x1 - x0,
        height: y1 - y0,
    }
}

/// Pending damage of one client.
#[derive(Debug, Default)]
pub struct Damage {
    rects: Vec<Rect>,
}

impl Damage {
    /// Adds a rectangle, clipped to `bounds` (the current mode).
    pub fn add(&mut self, r: Rect, bounds: (u32, u32)) {
        let x1 = r.x.saturating_add(r.width).min(bounds.0);
        let y1 = r.y.saturating_add(r.height).min(bounds.1);
        if r.x >= x1 || r.y >= y1 {
            return;
        }
        let mut r = Rect {
            x: r.x,
            y: r.y,
            width: x1 - r.x,
            height: y1 - r.y,
        };
        // Merge repeatedly: a grown rectangle may now absorb others.
        loop {
            let candidate = self.rects.iter().position(|e| {
                let u = union(e, &r);
                area(&u) <= area(e) + area(&r) + MERGE_SLACK
            });
            match candidate {
                Some(i) => {
                    let e = self.rects.swap_remove(i);
                    r = union(&e, &r);
                }
                None => break,
            }
        }
        self.rects.push(r);
        if self.rects.len() > MAX_RECTS {
            let all = self.rects.drain(..).reduce(|a, b| union(&a, &b));
            self.rects.extend(all);
        }
    }

    /// Marks everything as damaged.
    pub fn full(&mut self, bounds: (u32, u32)) {
        self.rects.clear();
        self.add(
            Rect {
                x: 0,
                y: 0,
                width: bounds.0,
                height: bounds.1,
            },
            bounds,
        );
    }

    /// Forgets all damage (a full draw just went out).
    pub fn clear(&mut self) {
        self.rects.clear();
    }

    /// Takes the next rectangle to draw.
    pub fn pop(&mut self) -> Option<Rect> {
        if self.rects.is_empty() {
            None
        } else {
            Some(self.rects.remove(0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(x: u32, y: u32, width: u32, height: u32) -> Rect {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    #[test]
    fn overlapping_rects_merge_and_far_ones_do_not() {
        let mut d = Damage::default();
        d.add(r(0, 0, 100, 100), (1000, 1000));
        d.add(r(50, 50, 100, 100), (1000, 1000));
        d.add(r(800, 800, 10, 10), (1000, 1000));
        assert_eq!(d.pop(), Some(r(0, 0, 150, 150)));
        assert_eq!(d.pop(), Some(r(800, 800, 10, 10)));
        assert!(d.pop().is_none());
    }

    #[test]
    fn rects_are_clipped_and_many_collapse() {
        let mut d = Damage::default();
        d.add(r(990, 990, 100, 100), (1000, 1000));
        assert_eq!(d.pop(), Some(r(990, 990, 10, 10)));
        d.add(r(2000, 0, 5, 5), (1000, 1000));
        assert!(d.pop().is_none());
        for i in 0..40 {
            d.add(r(i * 24, i * 24, 2, 2), (1000, 1000));
        }
        let first = d.pop().expect("collapsed");
        assert!(first.width > 2 && first.height > 2);
    }
}
