//! A shared mapping of part of the region, and the only raw access to it.
//!
//! Nothing here hands out `&[u8]` or `&mut [u8]` into the mapping: another
//! process writes it concurrently, which Rust references cannot express.
//! Words are reached as atomics; pixel runs are copied with
//! `ptr::copy_nonoverlapping` into or out of private buffers. Those copies can
//! race with the other process; that is the unavoidable part, and a race there
//! only yields torn pixels, never an out-of-bounds access.

use std::num::NonZeroUsize;
use std::os::fd::AsFd;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, AtomicU64};

use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};

use crate::error::ShmError;

/// Whether a mapping may be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    ReadOnly,
    ReadWrite,
}

/// One `MAP_SHARED` mapping, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    base: NonNull<u8>,
    len: usize,
    access: Access,
}

// SAFETY: the mapping is plain shared memory owned by this value; moving it to
// another thread moves nothing thread-bound.
unsafe impl Send for Mapping {}
// SAFETY: shared access only performs atomic operations or raw copies out;
// raw copies in need `&mut self`, so threads of this process never race each
// other through one `Mapping`.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` starting at `offset` (a multiple of the page
    /// size). The caller has checked that the file is at least
    /// `offset + len` bytes and sealed against shrinking.
    pub(crate) fn new(
        fd: impl AsFd,
        offset: usize,
        len: usize,
        access: Access,
    ) -> Result<Mapping, ShmError> {
        let length = NonZeroUsize::new(len).ok_or(ShmError::OutOfBounds {
            offset,
            len,
            size: 0,
        })?;
        let file_offset = i64::try_from(offset).map_err(|_| ShmError::OutOfBounds {
            offset,
            len,
            size: 0,
        })?;
        let prot = match access {
            Access::ReadOnly => ProtFlags::PROT_READ,
            Access::ReadWrite => ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
        };
        // SAFETY: we ask the kernel for a fresh mapping (no fixed address), so
        // no existing Rust object is aliased; the memory stays valid until
        // `Drop` unmaps it.
        let ptr = unsafe { mmap(None, length, prot, MapFlags::MAP_SHARED, fd, file_offset) }
            .map_err(ShmError::sys("mmap"))?;
        Ok(Mapping {
            base: ptr.cast(),
            len,
            access,
        })
    }

    /// Size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Fails unless the mapping was made read-write: a store into a
    /// read-only page would kill the process.
    pub(crate) fn check_writable(&self) -> Result<(), ShmError> {
        match self.access {
            Access::ReadWrite => Ok(()),
            Access::ReadOnly => Err(ShmError::ReadOnly),
        }
    }

    fn check(&self, offset: usize, len: usize, align: usize) -> Result<(), ShmError> {
        let inside = matches!(offset.checked_add(len), Some(end) if end <= self.len);
        if !inside || !offset.is_multiple_of(align) {
            return Err(ShmError::OutOfBounds {
                offset,
                len,
                size: self.len,
            });
        }
        Ok(())
    }

    /// The 32-bit word at `offset`, which must be in bounds and aligned.
    pub(crate) fn atomic_u32(&self, offset: usize) -> Result<&AtomicU32, ShmError> {
        self.check(offset, 4, 4)?;
        // SAFETY: `check` proved the four bytes lie inside the mapping and are
        // 4-aligned (the base is page-aligned); the mapping outlives the
        // returned borrow of `self`; all accesses to this memory from this
        // process are atomic.
        Ok(unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast()) })
    }

    /// The 64-bit word at `offset`, which must be in bounds and aligned.
    /// Only tests poke 64-bit words at computed offsets.
    #[cfg(test)]
    pub(crate) fn atomic_u64(&self, offset: usize) -> Result<&AtomicU64, ShmError> {
        self.check(offset, 8, 8)?;
        // SAFETY: as in `atomic_u32`, with eight 8-aligned bytes.
        Ok(unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(offset).cast()) })
    }

    /// The 32-bit word at `offset` without a bounds check, for the header
    /// whose fixed offsets are checked once by its constructor and a test.
    ///
    /// # Safety
    /// `offset + 4 <= self.len()` and `offset` is a multiple of 4.
    pub(crate) unsafe fn atomic_u32_unchecked(&self, offset: usize) -> &AtomicU32 {
        debug_assert!(self.check(offset, 4, 4).is_ok());
        // SAFETY: the caller guarantees bounds and alignment; the rest is as
        // in `atomic_u32`.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast()) }
    }

    /// The 64-bit word at `offset` without a bounds check.
    ///
    /// # Safety
    /// `offset + 8 <= self.len()` and `offset` is a multiple of 8.
    pub(crate) unsafe fn atomic_u64_unchecked(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(self.check(offset, 8, 8).is_ok());
        // SAFETY: the caller guarantees bounds and alignment; the rest is as
        // in `atomic_u64`.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(offset).cast()) }
    }

    /// Copies `dst.len()` bytes starting at `offset` out of the mapping.
    pub(crate) fn copy_out(&self, offset: usize, dst: &mut [u8]) -> Result<(), ShmError> {
        self.check(offset, dst.len(), 1)?;
        // SAFETY: the source range is inside the mapping (checked above) and
        // the destination is a private buffer, so they cannot overlap. The
        // other process may write the source meanwhile; we accept torn bytes
        // there (see the module comment).
        unsafe {
            ptr::copy_nonoverlapping(
                self.base.as_ptr().add(offset).cast_const(),
                dst.as_mut_ptr(),
                dst.len(),
            );
        }
        Ok(())
    }

    /// Copies `src` into the mapping at `offset`.
    pub(crate) fn copy_in(&mut self, offset: usize, src: &[u8]) -> Result<(), ShmError> {
        self.check_writable()?;
        self.check(offset, src.len(), 1)?;
        // SAFETY: the destination range is inside the mapping (checked above)
        // and writable (checked above), and `src` is a private buffer, so
        // they cannot overlap.
        unsafe {
            ptr::copy_nonoverlapping(src.as_ptr(), self.base.as_ptr().add(offset), src.len());
        }
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` describe exactly the mapping made in `new`, and
        // every borrow handed out is tied to `&self`, so none outlives this.
        // An error here cannot be handled meaningfully; the address range is
        // at worst leaked.
        let _ = unsafe { munmap(self.base.cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::memfd::{memfd_create, MFdFlags};
    use nix::unistd::ftruncate;

    fn mapping(len: usize) -> Mapping {
        let fd = memfd_create("mapping-test", MFdFlags::MFD_CLOEXEC).unwrap();
        ftruncate(&fd, len as i64).unwrap();
        Mapping::new(&fd, 0, len, Access::ReadWrite).unwrap()
    }

    #[test]
    fn accesses_outside_or_misaligned_are_refused() {
        let mut map = mapping(4096);
        assert!(map.atomic_u32(4092).is_ok());
        assert!(map.atomic_u32(4094).is_err());
        assert!(map.atomic_u32(2).is_err());
        assert!(map.atomic_u64(4092).is_err());
        assert!(map.atomic_u64(usize::MAX - 3).is_err());
        let mut buf = [0u8; 16];
        assert!(map.copy_out(4080, &mut buf).is_ok());
        assert!(map.copy_out(4081, &mut buf).is_err());
        assert!(map.copy_in(usize::MAX, &buf).is_err());
    }

    #[test]
    fn read_only_mappings_refuse_copies_in() {
        let fd = memfd_create("mapping-test", MFdFlags::MFD_CLOEXEC).unwrap();
        ftruncate(&fd, 4096).unwrap();
        let mut map = Mapping::new(&fd, 0, 4096, Access::ReadOnly).unwrap();
        assert!(matches!(map.copy_in(0, b"x"), Err(ShmError::ReadOnly)));
    }

    #[test]
    fn copies_round_trip() {
        let mut map = mapping(4096);
        map.copy_in(100, b"hello").unwrap();
        let mut out = [0u8; 5];
        map.copy_out(100, &mut out).unwrap();
        assert_eq!(&out, b"hello");
    }
}
