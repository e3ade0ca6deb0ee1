//! The server's mirror of one client's pixmap cache.
//!
//! The client keeps every image sent with CACHE_ME under its descriptor id
//! and drops it only when told (INVAL_LIST, INVAL_ALL_PIXMAPS). It announced
//! how many pixels it is willing to hold in DISPLAY_INIT; this mirror decides
//! what goes in, evicts least-recently-used images so that the client never
//! holds more than that, and names the ids to drop. A reference to an id the
//! client lacks would make spice-gtk wait for it forever, so the mirror is
//! the only authority on what may be sent as FROM_CACHE.

use std::collections::{BTreeMap, HashMap};

/// What identifies an image's content: a 128-bit hash of its pixels plus
/// its size, so equal hashes of differently shaped images never meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ContentKey {
    hash: u128,
    width: u32,
    height: u32,
}

impl ContentKey {
    /// Keys packed `width × 4`-byte rows.
    pub fn of(pixels: &[u8], width: u32, height: u32, alpha: bool) -> Self {
        Self {
            // The same bytes mean another picture when the fourth is alpha
            // (the client keeps it) than when it is padding.
            hash: xxhash_rust::xxh3::xxh3_128_with_seed(pixels, u64::from(alpha)),
            width,
            height,
        }
    }

    /// The descriptor id this content goes by: derived from the content so
    /// that a restarted worker and the client never disagree on meaning;
    /// collisions are refused by the cache.
    fn id(&self) -> u64 {
        // Truncation is the point: the low half of the hash is the id.
        self.hash as u64
    }

    fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// Smaller images cost more to name and evict than to resend.
const MIN_PIXELS: u64 = 16 * 16;

struct Entry {
    key: ContentKey,
    /// Sent with a lossy codec: the client holds an approximation.
    lossy: bool,
    /// Position in `lru`.
    tick: u64,
}

/// A cached image the client holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub id: u64,
    pub lossy: bool,
}

/// An image admitted to the cache: send it with CACHE_ME under `id`, after
/// telling the client to drop `evicted`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admitted {
    pub id: u64,
    pub evicted: Vec<u64>,
}

/// Mirror of one client's pixmap cache.
pub struct PixmapCache {
    /// Pixels the client agreed to hold.
    capacity: u64,
    used: u64,
    entries: HashMap<u64, Entry>,
    /// Least recently used first.
    lru: BTreeMap<u64, u64>,
    next_tick: u64,
}

impl PixmapCache {
    /// A cache of `capacity` pixels (DISPLAY_INIT's pixmap_cache_size; a
    /// negative or zero size means the client keeps nothing).
    pub fn new(capacity: i64) -> Self {
        Self {
            capacity: u64::try_from(capacity).unwrap_or(0),
            used: 0,
            entries: HashMap::new(),
            lru: BTreeMap::new(),
            next_tick: 0,
        }
    }

    /// Pixels the client currently holds.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Images the client currently holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether an image of this shape is worth caching at all.
    pub fn admits(&self, width: u32, height: u32) -> bool {
        let pixels = u64::from(width) * u64::from(height);
        // One image may take at most a quarter of the cache, so that a
        // full-screen update does not flush everything else.
        pixels >= MIN_PIXELS && pixels <= self.capacity / 4
    }

    /// The cached image with this content, marked as just used.
    pub fn lookup(&mut self, key: &ContentKey) -> Option<Hit> {
        let tick = self.bump();
        let entry = self.entries.get_mut(&key.id())?;
        if entry.key != *key {
            return None;
        }
        self.lru.remove(&entry.tick);
        entry.tick = tick;
        self.lru.insert(tick, key.id());
        Some(Hit {
            id: key.id(),
            lossy: entry.lossy,
        })
    }

    /// Makes room for and records an image about to be sent with CACHE_ME.
    /// `None` when it is not cacheable: too small or large, or its id is
    /// taken by other content (a 64-bit collision; that image just goes
    /// uncached).
    pub fn admit(&mut self, key: ContentKey, lossy: bool) -> Option<Admitted> {
        if !self.admits(key.width, key.height) || self.entries.contains_key(&key.id()) {
            return None;
        }
        let mut evicted = Vec::new();
        while self.used + key.pixels() > self.capacity {
            let (_, oldest) = self.lru.pop_first()?;
            if let Some(e) = self.entries.remove(&oldest) {
                self.used -= e.key.pixels();
            }
            evicted.push(oldest);
        }
        let tick = self.bump();
        self.used += key.pixels();
        self.entries.insert(key.id(), Entry { key, lossy, tick });
        self.lru.insert(tick, key.id());
        Some(Admitted {
            id: key.id(),
            evicted,
        })
    }

    /// Forgets one image (the caller tells the client).
    pub fn remove(&mut self, id: u64) {
        if let Some(e) = self.entries.remove(&id) {
            self.lru.remove(&e.tick);
            self.used -= e.key.pixels();
        }
    }

    fn bump(&mut self) -> u64 {
        self.next_tick += 1;
        self.next_tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8, width: u32, height: u32) -> ContentKey {
        let pixels: Vec<u8> = (0..width * height * 4)
            .map(|i| (i as u8).wrapping_mul(seed))
            .collect();
        ContentKey::of(&pixels, width, height, false)
    }

    #[test]
    fn same_content_hits_and_other_content_misses() {
        let mut c = PixmapCache::new(100_000);
        let a = key(3, 32, 32);
        let admitted = c.admit(a, false).expect("admitted");
        assert!(admitted.evicted.is_empty());
        assert_eq!(
            c.lookup(&a),
            Some(Hit {
                id: admitted.id,
                lossy: false
            })
        );
        assert_eq!(c.lookup(&key(5, 32, 32)), None);
        // Same bytes, other shape: a different image.
        let pixels = vec![7u8; 32 * 32 * 4];
        assert_ne!(
            ContentKey::of(&pixels, 32, 32, false),
            ContentKey::of(&pixels, 64, 16, false)
        );
        // Same bytes, fourth byte alpha rather than padding: another picture.
        assert_ne!(
            ContentKey::of(&pixels, 32, 32, false),
            ContentKey::of(&pixels, 32, 32, true)
        );
    }

    #[test]
    fn eviction_keeps_the_client_within_its_size_and_drops_the_oldest() {
        // Room for exactly four 32x32 images.
        let mut c = PixmapCache::new(4 * 1024);
        let keys: Vec<ContentKey> = (1..=6).map(|s| key(s, 32, 32)).collect();
        assert!(c.admits(32, 32));
        for k in &keys[..4] {
            assert!(c.admit(*k, false).expect("fits").evicted.is_empty());
        }
        assert_eq!(c.used(), 4 * 1024);
        // Touch the first so that the second is the oldest.
        assert!(c.lookup(&keys[0]).is_some());
        let fifth = c.admit(keys[4], false).expect("admitted");
        assert_eq!(fifth.evicted, vec![keys[1].id()]);
        assert!(c.lookup(&keys[1]).is_none());
        assert!(c.lookup(&keys[0]).is_some());
        assert_eq!(c.used(), 4 * 1024);
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn too_small_too_large_and_disabled_caches_admit_nothing() {
        let mut c = PixmapCache::new(4096);
        assert_eq!(c.admit(key(1, 8, 8), false), None);
        assert_eq!(c.admit(key(1, 64, 64), false), None);
        let mut none = PixmapCache::new(0);
        assert_eq!(none.admit(key(1, 32, 32), false), None);
        let mut negative = PixmapCache::new(-5);
        assert_eq!(negative.admit(key(1, 32, 32), false), None);
    }

    #[test]
    fn removal_frees_room_and_a_second_admission_is_refused() {
        let mut c = PixmapCache::new(4096);
        let a = key(9, 32, 32);
        let id = c.admit(a, true).expect("admitted").id;
        assert_eq!(c.admit(a, true), None);
        assert_eq!(c.lookup(&a).map(|h| h.lossy), Some(true));
        c.remove(id);
        assert_eq!(c.used(), 0);
        assert!(c.lookup(&a).is_none());
        assert!(c.admit(a, false).is_some());
    }
}
