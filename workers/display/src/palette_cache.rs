//! The server's mirror of one client's palette cache.
//!
//! Nothing in DISPLAY_INIT sizes it: clients keep what they are told to and
//! the reference server never lets that exceed 128 palettes, so neither do
//! we. A palette is named by a hash of its entries; evicting one means
//! sending INVAL_PALETTE for it.

use std::collections::{BTreeMap, HashMap};

/// Palettes a client holds at most (the reference server's figure).
pub const CAPACITY: usize = 128;

/// How a bitmap's palette goes out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaletteUse {
    /// The client has it: send only the id.
    Cached(u64),
    /// Send it inline with PAL_CACHE_ME under `id`, after INVAL_PALETTE
    /// for `evicted`.
    Store { id: u64, evicted: Option<u64> },
}

pub struct PaletteCache {
    entries: HashMap<u64, (Vec<u32>, u64)>,
    lru: BTreeMap<u64, u64>,
    tick: u64,
}

impl Default for PaletteCache {
    fn default() -> Self {
        Self::new()
    }
}

impl PaletteCache {
    pub fn new() -> Self {
        Self {
            entries: HashMap::new(),
            lru: BTreeMap::new(),
            tick: 0,
        }
    }

    fn id_of(entries: &[u32]) -> u64 {
        let bytes: Vec<u8> = entries.iter().flat_map(|e| e.to_le_bytes()).collect();
        xxhash_rust::xxh3::xxh3_64(&bytes)
    }

    /// Decides how `entries` are sent. `None` when another palette holds
    /// its id (a hash collision): send it inline without caching.
    pub fn lookup_or_store(&mut self, entries: &[u32]) -> Option<PaletteUse> {
        let id = Self::id_of(entries);
        self.tick += 1;
        if let Some((held, tick)) = self.entries.get_mut(&id) {
            if held.as_slice() != entries {
                return None;
            }
            self.lru.remove(tick);
            *tick = self.tick;
            self.lru.insert(self.tick, id);
            return Some(PaletteUse::Cached(id));
        }
        let evicted = if self.entries.len() >= CAPACITY {
            let (_, oldest) = self.lru.pop_first()?;
            self.entries.remove(&oldest);
            Some(oldest)
        } else {
            None
        };
        self.entries.insert(id, (entries.to_vec(), self.tick));
        self.lru.insert(self.tick, id);
        Some(PaletteUse::Store { id, evicted })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_use_is_a_reference_and_the_oldest_goes_first() {
        let mut c = PaletteCache::new();
        let first = c.lookup_or_store(&[1, 2]);
        let Some(PaletteUse::Store { id, evicted: None }) = first else {
            panic!("{first:?}");
        };
        assert_eq!(c.lookup_or_store(&[1, 2]), Some(PaletteUse::Cached(id)));
        for n in 0..CAPACITY as u32 - 1 {
            assert!(matches!(
                c.lookup_or_store(&[n + 100]),
                Some(PaletteUse::Store { evicted: None, .. })
            ));
        }
        // Full: [1, 2] is the oldest unless touched.
        assert_eq!(c.lookup_or_store(&[1, 2]), Some(PaletteUse::Cached(id)));
        let next = c.lookup_or_store(&[7, 7, 7]);
        let Some(PaletteUse::Store {
            evicted: Some(gone),
            ..
        }) = next
        else {
            panic!("{next:?}");
        };
        assert_ne!(gone, id);
        assert_eq!(c.entries.len(), CAPACITY);
    }
}
