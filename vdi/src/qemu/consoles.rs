//! Which of the VM's consoles each display shows.
//!
//! QEMU lists its consoles in the VM's `ConsoleIDs`; each has a `Type`:
//! `Graphic` for a head of a display device, `Text` for a `vc` chardev.
//! QEMU numbers graphic consoles before text ones, one per head in the
//! order the devices were created, so display k shows the k-th graphic
//! console: for `-vga std -device secondary-vga`, `Console_0` on display
//! 0 and `Console_1` on display 1. Graphic consoles beyond spicebox's
//! displays are not served (the host logs which, and the `--displays`
//! that would serve them); displays beyond the graphic consoles show a
//! picture saying that the VM has no console for them.
//!
//! A VM without any graphic console (no display device, only text
//! consoles) is still shown from its first console on display 0, as
//! before spicebox served several displays: QEMU draws text consoles
//! too.

use std::ops::Range;

/// The `Type` of a console that is a head of a display device.
pub(crate) const GRAPHIC: &str = "Graphic";

/// The consoles spicebox serves, display by display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The console each served display shows: display k shows
    /// `served[k]`. Empty only for a VM without consoles.
    pub(crate) served: Vec<u32>,
    /// Graphic consoles beyond the displays, shown nowhere.
    pub(crate) unserved: Vec<u32>,
    /// How many graphic consoles the VM has.
    pub(crate) graphic: usize,
    /// How many displays spicebox has.
    pub(crate) displays: usize,
}

impl Plan {
    /// The plan for a VM whose consoles are `consoles` (id, `Type`), in
    /// any order, on `displays` displays.
    pub(crate) fn new(consoles: &[(u32, String)], displays: usize) -> Plan {
        let mut graphic: Vec<u32> = consoles
            .iter()
            .filter(|(_, kind)| kind == GRAPHIC)
            .map(|&(id, _)| id)
            .collect();
        graphic.sort_unstable();
        graphic.dedup();
        let count = graphic.len();
        let (served, unserved) = if graphic.is_empty() {
            let first = consoles.iter().map(|&(id, _)| id).min();
            (first.into_iter().collect(), Vec::new())
        } else {
            let unserved = graphic.split_off(count.min(displays));
            (graphic, unserved)
        };
        Plan {
            served,
            unserved,
            graphic: count,
            displays,
        }
    }

    /// The displays with no console behind them.
    pub(crate) fn missing(&self) -> Range<usize> {
        self.served.len().min(self.displays)..self.displays
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consoles(list: &[(u32, &str)]) -> Vec<(u32, String)> {
        list.iter()
            .map(|&(id, kind)| (id, kind.to_string()))
            .collect()
    }

    #[test]
    fn display_k_shows_the_kth_graphic_console() {
        let two_heads = consoles(&[(0, "Graphic"), (1, "Graphic")]);
        let plan = Plan::new(&two_heads, 2);
        assert_eq!(plan.served, [0, 1]);
        assert!(plan.unserved.is_empty());
        assert_eq!(plan.missing(), 2..2);
        // Text consoles are skipped, whatever their place and the order of
        // the list.
        let mixed = consoles(&[(3, "Graphic"), (0, "Text"), (1, "Graphic"), (2, "Text")]);
        let plan = Plan::new(&mixed, 4);
        assert_eq!(plan.served, [1, 3]);
        assert_eq!(plan.graphic, 2);
        assert_eq!(plan.missing(), 2..4);
    }

    #[test]
    fn consoles_beyond_the_displays_are_not_served() {
        let three = consoles(&[(0, "Graphic"), (1, "Graphic"), (2, "Graphic"), (3, "Text")]);
        let plan = Plan::new(&three, 1);
        assert_eq!(plan.served, [0]);
        assert_eq!(plan.unserved, [1, 2]);
        assert_eq!(plan.graphic, 3);
        assert!(plan.missing().is_empty());
    }

    #[test]
    fn displays_beyond_the_consoles_are_missing() {
        let one = consoles(&[(0, "Graphic")]);
        let plan = Plan::new(&one, 3);
        assert_eq!(plan.served, [0]);
        assert_eq!(plan.missing(), 1..3);
        // A repeated id is one console.
        let twice = consoles(&[(0, "Graphic"), (0, "Graphic")]);
        assert_eq!(Plan::new(&twice, 2).served, [0]);
    }

    #[test]
    fn a_vm_without_graphic_consoles_shows_its_first_console() {
        let text = consoles(&[(2, "Text"), (1, "Text")]);
        let plan = Plan::new(&text, 2);
        assert_eq!(plan.served, [1]);
        assert_eq!(plan.graphic, 0);
        assert_eq!(plan.missing(), 1..2);
        let none = Plan::new(&[], 2);
        assert!(none.served.is_empty());
        assert_eq!(none.missing(), 0..2);
    }
}
