//! Helpers shared by the tests: a small region and a raw, unchecked view of
//! it for playing the hostile producer.

use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;

use crate::layout::{DWord, Geometry, ShmLayout, Word, RECORD_SIZE, RECORD_WORDS};
use crate::mapping::{Access, Mapping};
use crate::{create_region, Consumer, Producer};

/// 64x48 with an 8-record ring: small enough to overflow on purpose.
pub(crate) const SMALL: ShmLayout = ShmLayout {
    max_width: 64,
    max_height: 48,
    ring_records: 8,
};

/// A region plus a duplicate of its descriptor.
pub(crate) struct TestRegion {
    fd: OwnedFd,
}

impl TestRegion {
    pub(crate) fn new(layout: &ShmLayout) -> TestRegion {
        TestRegion {
            fd: create_region(layout).unwrap(),
        }
    }

    pub(crate) fn fd(&self) -> OwnedFd {
        self.fd.try_clone().unwrap()
    }

    pub(crate) fn producer(&self) -> Producer {
        Producer::open(self.fd()).unwrap()
    }

    pub(crate) fn consumer(&self) -> Consumer {
        Consumer::open(self.fd()).unwrap()
    }

    /// A consumer that has already done its first (state) drain.
    pub(crate) fn synced_consumer(&self) -> Consumer {
        let mut consumer = self.consumer();
        consumer.drain(&mut Vec::new()).unwrap();
        consumer
    }

    pub(crate) fn raw(&self) -> Raw {
        let geometry = Geometry::new(&SMALL).unwrap();
        Raw {
            map: Mapping::new(&self.fd, 0, geometry.total_size, Access::ReadWrite).unwrap(),
            geometry,
        }
    }
}

/// Writes anything anywhere, like a compromised host would.
pub(crate) struct Raw {
    pub map: Mapping,
    pub geometry: Geometry,
}

impl Raw {
    pub(crate) fn set32(&self, word: Word, value: u32) {
        self.map
            .atomic_u32(word.offset())
            .unwrap()
            .store(value, Ordering::SeqCst);
    }

    pub(crate) fn set64(&self, dword: DWord, value: u64) {
        self.map
            .atomic_u64(dword.offset())
            .unwrap()
            .store(value, Ordering::SeqCst);
    }

    pub(crate) fn get64(&self, dword: DWord) -> u64 {
        self.map
            .atomic_u64(dword.offset())
            .unwrap()
            .load(Ordering::SeqCst)
    }

    /// Writes slot words for record number `index`.
    pub(crate) fn set_slot(&self, index: u64, words: [u32; RECORD_WORDS]) {
        let slot = (index % u64::from(self.geometry.ring_records)) as usize;
        let base = self.geometry.ring_offset + slot * RECORD_SIZE;
        for (i, w) in words.iter().enumerate() {
            self.map
                .atomic_u32(base + i * 4)
                .unwrap()
                .store(*w, Ordering::SeqCst);
        }
    }

    /// Appends a record at the head and bumps the head.
    pub(crate) fn push(&self, words: [u32; RECORD_WORDS]) {
        let head = self.get64(DWord::RingHead);
        self.set_slot(head, words);
        self.set64(DWord::RingHead, head + 1);
    }
}

/// A BGRX picture whose every byte depends on its position.
pub(crate) fn pattern(width: u32, height: u32) -> Vec<u8> {
    (0..width * height * 4)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}
