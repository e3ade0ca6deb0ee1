//! Capability bit sets as exchanged in the link stage.
//!
//! Capability bit `n` lives in bit `n % 32` of word `n / 32`. Peers may send
//! more words than they need, so comparison is by words, not by set bits.

/// A set of capability bits, kept in wire words.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caps(Vec<u32>);

impl Caps {
    /// No capabilities, zero words.
    pub fn new() -> Self {
        Caps(Vec::new())
    }

    /// Wraps words exactly as received.
    pub fn from_words(words: Vec<u32>) -> Self {
        Caps(words)
    }

    /// A set holding exactly `bits`.
    pub fn with(bits: &[u32]) -> Caps {
        let mut caps = Caps::new();
        for &bit in bits {
            caps.set(bit);
        }
        caps
    }

    /// The wire words.
    pub fn words(&self) -> &[u32] {
        &self.0
    }

    /// Number of wire words.
    pub fn num_words(&self) -> usize {
        self.0.len()
    }

    /// True if `bit` is set; bits past the last word are unset.
    pub fn has(&self, bit: u32) -> bool {
        usize::try_from(bit / 32)
            .ok()
            .and_then(|i| self.0.get(i))
            .is_some_and(|w| w & (1 << (bit % 32)) != 0)
    }

    /// Sets `bit`, adding words as needed.
    pub fn set(&mut self, bit: u32) {
        let Ok(index) = usize::try_from(bit / 32) else {
            return;
        };
        if self.0.len() <= index {
            self.0.resize(index + 1, 0);
        }
        if let Some(w) = self.0.get_mut(index) {
            *w |= 1 << (bit % 32);
        }
    }

    /// Clears `bit` (keeps the word count).
    pub fn clear(&mut self, bit: u32) {
        if let Some(w) = usize::try_from(bit / 32)
            .ok()
            .and_then(|i| self.0.get_mut(i))
        {
            *w &= !(1 << (bit % 32));
        }
    }

    /// Every set bit, ascending; handy for logs.
    pub fn bits(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &w)| {
            (0..32u32)
                .filter(move |b| w & (1 << b) != 0)
                .map(move |b| (i as u32).wrapping_mul(32).wrapping_add(b))
        })
    }

    /// Bits set in both `self` and `other`, i.e. what both peers support.
    pub fn intersection(&self, other: &Caps) -> Caps {
        Caps(
            self.0
                .iter()
                .zip(other.0.iter())
                .map(|(a, b)| a & b)
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consts::{common_cap, display_cap};

    #[test]
    fn spice_gtk_common_caps_value() {
        // spice-gtk sends 0x0D: AUTH_SELECTION | AUTH_SASL | MINI_HEADER.
        let c = Caps::from_words(vec![0x0d]);
        assert!(c.has(common_cap::AUTH_SELECTION));
        assert!(!c.has(common_cap::AUTH_SPICE));
        assert!(c.has(common_cap::AUTH_SASL));
        assert!(c.has(common_cap::MINI_HEADER));
        assert!(!c.has(32));
        assert!(!c.has(u32::MAX));
    }

    #[test]
    fn with_builds_words() {
        let c = Caps::with(&[
            common_cap::AUTH_SELECTION,
            common_cap::AUTH_SPICE,
            common_cap::MINI_HEADER,
        ]);
        assert_eq!(c.words(), &[0b1011]);
        let d = Caps::with(&[display_cap::MONITORS_CONFIG, 33]);
        assert_eq!(d.words(), &[0b10, 0b10]);
        assert_eq!(d.bits().collect::<Vec<_>>(), vec![1, 33]);
        assert_eq!(Caps::with(&[]).num_words(), 0);
    }

    #[test]
    fn set_grows_and_clear_keeps_length() {
        let mut c = Caps::new();
        assert!(!c.has(70));
        c.set(70);
        assert_eq!(c.num_words(), 3);
        assert!(c.has(70));
        c.clear(70);
        assert!(!c.has(70));
        assert_eq!(c.num_words(), 3);
        c.clear(1000);
        assert_eq!(c.num_words(), 3);
    }

    #[test]
    fn intersection_is_bitwise_and() {
        let a = Caps::with(&[0, 1, 40]);
        let b = Caps::with(&[1, 3]);
        let both = a.intersection(&b);
        assert_eq!(both.bits().collect::<Vec<_>>(), vec![1]);
    }
}
