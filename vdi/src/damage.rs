//! Collects the rectangles changed during one step and merges those that
//! overlap, so the consumer gets few, tight rectangles.

use spicebox_shm::Rect;

use crate::draw::geom::{area, touches, union};

/// More rectangles than this collapse into their bounding box.
const MAX_RECTS: usize = 16;

/// A set of damaged rectangles.
#[derive(Debug, Default)]
pub(crate) struct DamageList {
    rects: Vec<Rect>,
}

impl DamageList {
    /// An empty list.
    pub(crate) fn new() -> DamageList {
        DamageList::default()
    }

    /// Adds a rectangle, merging it with any it overlaps when the merged
    /// rectangle wastes little.
    pub(crate) fn add(&mut self, rect: Rect) {
        if rect.width == 0 || rect.height == 0 {
            return;
        }
        let mut current = rect;
        // Merging can make the result touch rectangles it did not before.
        while let Some(i) = self.rects.iter().position(|r| worth_merging(r, &current)) {
            let other = self.rects.swap_remove(i);
            current = union(&other, &current);
        }
        self.rects.push(current);
        if self.rects.len() > MAX_RECTS {
            let all = self
                .rects
                .iter()
                .skip(1)
                .fold(self.rects[0], |acc, r| union(&acc, r));
            self.rects = vec![all];
        }
    }

    /// Empties the list, returning its rectangles.
    pub(crate) fn take(&mut self) -> Vec<Rect> {
        std::mem::take(&mut self.rects)
    }
}

/// Whether `a` and `b` touch and their union is not much bigger than both.
fn worth_merging(a: &Rect, b: &Rect) -> bool {
    touches(a, b) && area(&union(a, b)) * 4 <= (area(a) + area(b)) * 5
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::draw::geom::rect;

    #[test]
    fn overlapping_rects_merge_and_distant_ones_do_not() {
        let mut d = DamageList::new();
        d.add(rect(0, 0, 10, 10));
        d.add(rect(5, 0, 10, 10));
        d.add(rect(100, 100, 5, 5));
        d.add(rect(0, 0, 0, 5));
        let mut rects = d.take();
        rects.sort_by_key(|r| r.x);
        assert_eq!(rects, vec![rect(0, 0, 15, 10), rect(100, 100, 5, 5)]);
        assert!(d.take().is_empty());
    }

    #[test]
    fn many_rects_collapse() {
        let mut d = DamageList::new();
        for i in 0..40 {
            d.add(rect(i * 20, i * 20, 5, 5));
        }
        let rects = d.take();
        assert!(rects.len() <= MAX_RECTS);
        let covered: u64 = rects.iter().map(area).sum();
        assert!(covered >= 40 * 25);
    }
}
