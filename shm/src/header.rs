//! Typed access to the header area and the check of its fixed fields.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::error::ShmError;
use crate::layout::{DWord, Geometry, ShmLayout, Word, HEADER_SIZE, MAGIC, RECORD_SIZE, VERSION};
use crate::mapping::Mapping;

/// The mapped header area.
#[derive(Debug)]
pub(crate) struct Header {
    map: Mapping,
}

impl Header {
    /// Wraps a mapping that covers at least the header area.
    pub(crate) fn new(map: Mapping) -> Result<Header, ShmError> {
        if map.len() < HEADER_SIZE {
            return Err(ShmError::OutOfBounds {
                offset: 0,
                len: HEADER_SIZE,
                size: map.len(),
            });
        }
        Ok(Header { map })
    }

    /// A 32-bit field.
    pub(crate) fn word(&self, word: Word) -> &AtomicU32 {
        // SAFETY: `new` guarantees the mapping spans HEADER_SIZE bytes, and
        // every `Word` offset is 4-aligned and ends inside HEADER_SIZE (checked
        // by the `layout` tests).
        unsafe { self.map.atomic_u32_unchecked(word.offset()) }
    }

    /// A 64-bit field.
    pub(crate) fn dword(&self, dword: DWord) -> &AtomicU64 {
        // SAFETY: as in `word`, for the 8-aligned `DWord` offsets.
        unsafe { self.map.atomic_u64_unchecked(dword.offset()) }
    }

    /// Writes the fixed fields of a freshly created (zero-filled) region.
    pub(crate) fn initialise(&self, geometry: &Geometry) {
        let set32 = |w: Word, v: u32| self.word(w).store(v, Ordering::Relaxed);
        let set64 = |d: DWord, v: usize| self.dword(d).store(v as u64, Ordering::Relaxed);
        set32(Word::Version, VERSION);
        set32(Word::HeaderSize, HEADER_SIZE as u32);
        set32(Word::MaxWidth, geometry.max_width);
        set32(Word::MaxHeight, geometry.max_height);
        set32(Word::RingRecords, geometry.ring_records);
        set32(Word::RecordSize, RECORD_SIZE as u32);
        set64(DWord::RingOffset, geometry.ring_offset);
        set64(DWord::CursorOffset, geometry.cursor_offset);
        set64(DWord::FbOffset, geometry.fb_offset);
        set64(DWord::FbSize, geometry.fb_size);
        set64(DWord::TotalSize, geometry.total_size);
        // The magic goes last so that a half-initialised header never passes.
        self.dword(DWord::Magic).store(MAGIC, Ordering::Release);
    }

    /// Copies the fixed fields once, derives the layout from the capacities
    /// alone and checks every stored offset and the file size against it.
    pub(crate) fn validate(&self, file_size: u64) -> Result<Geometry, ShmError> {
        let magic = self.dword(DWord::Magic).load(Ordering::Acquire);
        if magic != MAGIC {
            return Err(ShmError::BadMagic(magic));
        }
        let version = self.word(Word::Version).load(Ordering::Relaxed);
        if version != VERSION {
            return Err(ShmError::BadVersion(version));
        }
        let get32 = |w: Word| self.word(w).load(Ordering::Relaxed);
        check_field("header size", get32(Word::HeaderSize).into(), HEADER_SIZE)?;
        check_field("record size", get32(Word::RecordSize).into(), RECORD_SIZE)?;
        let geometry = Geometry::new(&ShmLayout {
            max_width: get32(Word::MaxWidth),
            max_height: get32(Word::MaxHeight),
            ring_records: get32(Word::RingRecords),
        })?;
        let get64 = |d: DWord| self.dword(d).load(Ordering::Relaxed);
        check_field(
            "ring offset",
            get64(DWord::RingOffset),
            geometry.ring_offset,
        )?;
        check_field(
            "cursor offset",
            get64(DWord::CursorOffset),
            geometry.cursor_offset,
        )?;
        check_field(
            "framebuffer offset",
            get64(DWord::FbOffset),
            geometry.fb_offset,
        )?;
        check_field("framebuffer size", get64(DWord::FbSize), geometry.fb_size)?;
        check_field("total size", get64(DWord::TotalSize), geometry.total_size)?;
        let needed = geometry.total_size as u64;
        if file_size < needed {
            return Err(ShmError::FileTooSmall {
                actual: file_size,
                needed,
            });
        }
        Ok(geometry)
    }
}

fn check_field(field: &'static str, found: u64, expected: usize) -> Result<(), ShmError> {
    let expected = expected as u64;
    if found != expected {
        return Err(ShmError::HeaderMismatch {
            field,
            found,
            expected,
        });
    }
    Ok(())
}
