//! Sequence locks for state that is bigger than one atomic word (the mode,
//! the cursor shape) and must be read whole at any time.
//!
//! The writer makes the counter odd, writes, and makes it even again; a
//! reader retries until it sees the same even counter before and after.
//! Readers cannot block the writer, and a writer that dies (or lies) with
//! an odd counter makes readers give up with [`ShmError::Contended`] after a
//! bounded number of tries instead of spinning forever.

use std::sync::atomic::{fence, AtomicU32, Ordering};

use crate::error::ShmError;

/// Attempts before a reader gives up. Writes are a few hundred kilobytes at
/// most, so an honest writer is done long before this.
const MAX_ATTEMPTS: u32 = 10_000;
/// Attempts that only spin before a reader starts yielding its time slice.
const SPIN_ATTEMPTS: u32 = 64;

/// Runs `write` inside an update of `seq`.
pub(crate) fn write<R>(seq: &AtomicU32, write: impl FnOnce() -> R) -> R {
    let current = seq.load(Ordering::Relaxed);
    // Always lands on an odd value distinct from `current`, even if a
    // previous writer died halfway with the counter odd.
    let start = current.wrapping_add(1) | 1;
    seq.store(start, Ordering::Relaxed);
    fence(Ordering::Release);
    let result = write();
    seq.store(start.wrapping_add(1), Ordering::Release);
    result
}

/// Runs `read` until it ran entirely between two writes, then returns what
/// it produced. `read` must tolerate garbage (it may run during a write);
/// only a result from a consistent run is returned.
pub(crate) fn read<T>(seq: &AtomicU32, mut read: impl FnMut() -> T) -> Result<T, ShmError> {
    for attempt in 0..MAX_ATTEMPTS {
        let before = seq.load(Ordering::Acquire);
        if before & 1 == 0 {
            let value = read();
            fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == before {
                return Ok(value);
            }
        }
        if attempt < SPIN_ATTEMPTS {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    Err(ShmError::Contended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_leaves_an_even_counter_and_read_sees_the_value() {
        let seq = AtomicU32::new(0);
        let value = AtomicU32::new(0);
        write(&seq, || value.store(7, Ordering::Relaxed));
        assert_eq!(seq.load(Ordering::Relaxed) % 2, 0);
        assert_eq!(read(&seq, || value.load(Ordering::Relaxed)).unwrap(), 7);
    }

    #[test]
    fn a_writer_that_died_midway_is_recovered_by_the_next_write() {
        let seq = AtomicU32::new(u32::MAX);
        write(&seq, || ());
        assert_eq!(seq.load(Ordering::Relaxed) % 2, 0);
    }

    #[test]
    fn a_counter_stuck_odd_makes_readers_give_up() {
        let seq = AtomicU32::new(3);
        assert!(matches!(read(&seq, || ()), Err(ShmError::Contended)));
    }
}
