//! A hostile producer writes garbage straight into the header and ring; the
//! consumer must answer with typed errors and never panic or read outside
//! the region.

use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::unistd::ftruncate;

use crate::layout::{DWord, Geometry, ShmLayout, Word, RECORD_WORDS};
use crate::test_support::{TestRegion, SMALL};
use crate::{Consumer, Event, Rect, ShmError};

const DAMAGE: u32 = 1;
const MODE: u32 = 2;
const SHAPE: u32 = 4;
/// The serial of the first mode a producer sets.
const FIRST_MODE: u32 = 1;

fn record(words: &[u32]) -> [u32; RECORD_WORDS] {
    let mut out = [0; RECORD_WORDS];
    out[..words.len()].copy_from_slice(words);
    out
}

fn open_err(region: &TestRegion) -> ShmError {
    match Consumer::open(region.fd()) {
        Ok(_) => panic!("open accepted a corrupt header"),
        Err(e) => e,
    }
}

/// A region with a 32x16 mode already drained by the returned consumer.
fn region_with_mode() -> (TestRegion, Consumer) {
    let region = TestRegion::new(&SMALL);
    region.producer().set_mode(32, 16).unwrap();
    let consumer = region.synced_consumer();
    (region, consumer)
}

#[test]
fn bad_magic_and_version_are_refused() {
    let region = TestRegion::new(&SMALL);
    region.raw().set64(DWord::Magic, 0x1234);
    assert!(matches!(open_err(&region), ShmError::BadMagic(0x1234)));

    let region = TestRegion::new(&SMALL);
    region.raw().set32(Word::Version, 99);
    assert!(matches!(open_err(&region), ShmError::BadVersion(99)));
}

#[test]
fn offsets_that_disagree_with_the_capacities_are_refused() {
    for field in [
        DWord::RingOffset,
        DWord::CursorOffset,
        DWord::FbOffset,
        DWord::FbSize,
        DWord::TotalSize,
    ] {
        let region = TestRegion::new(&SMALL);
        region.raw().set64(field, u64::MAX - 7);
        assert!(
            matches!(open_err(&region), ShmError::HeaderMismatch { .. }),
            "{field:?}"
        );
    }
    let region = TestRegion::new(&SMALL);
    region.raw().set32(Word::RecordSize, 4);
    assert!(matches!(open_err(&region), ShmError::HeaderMismatch { .. }));
}

#[test]
fn capacities_that_overflow_or_exceed_the_file_are_refused() {
    let region = TestRegion::new(&SMALL);
    region.raw().set32(Word::MaxWidth, u32::MAX);
    assert!(matches!(open_err(&region), ShmError::InvalidLayout { .. }));

    let region = TestRegion::new(&SMALL);
    region.raw().set32(Word::RingRecords, 0);
    assert!(matches!(open_err(&region), ShmError::InvalidLayout { .. }));

    // A consistent header for a bigger region than the file holds.
    let region = TestRegion::new(&SMALL);
    let raw = region.raw();
    let big = Geometry::new(&ShmLayout {
        max_width: 4096,
        max_height: 4096,
        ring_records: 8,
    })
    .unwrap();
    raw.set32(Word::MaxWidth, 4096);
    raw.set32(Word::MaxHeight, 4096);
    raw.set64(DWord::FbOffset, big.fb_offset as u64);
    raw.set64(DWord::FbSize, big.fb_size as u64);
    raw.set64(DWord::TotalSize, big.total_size as u64);
    assert!(matches!(open_err(&region), ShmError::FileTooSmall { .. }));
}

#[test]
fn files_that_could_shrink_under_the_mapping_are_refused() {
    let fd = memfd_create("unsealed", MFdFlags::MFD_CLOEXEC).unwrap();
    ftruncate(&fd, 1 << 20).unwrap();
    assert!(matches!(Consumer::open(fd), Err(ShmError::NotSealed)));
}

#[test]
fn a_head_far_ahead_of_or_behind_the_tail_is_corrupt() {
    let (region, mut consumer) = region_with_mode();
    let raw = region.raw();
    let head = raw.get64(DWord::RingHead);
    raw.set64(DWord::RingHead, head + 1_000_000);
    let mut events = Vec::new();
    assert!(matches!(
        consumer.drain(&mut events),
        Err(ShmError::RingCorrupt { .. })
    ));
    raw.set64(DWord::RingHead, head.wrapping_sub(1));
    assert!(matches!(
        consumer.drain(&mut events),
        Err(ShmError::RingCorrupt { .. })
    ));
    raw.set64(DWord::RingHead, u64::MAX);
    assert!(matches!(
        consumer.drain(&mut events),
        Err(ShmError::RingCorrupt { .. })
    ));
    assert!(events.is_empty());
    // A sane head again: draining goes on.
    raw.set64(DWord::RingHead, head);
    consumer.drain(&mut events).unwrap();
}

#[test]
fn unknown_records_are_reported_and_skipped() {
    let (region, mut consumer) = region_with_mode();
    let raw = region.raw();
    raw.push(record(&[DAMAGE, 0, 0, 1, 1, FIRST_MODE]));
    raw.push(record(&[77, 1, 2, 3]));
    raw.push(record(&[DAMAGE, 1, 1, 2, 2, FIRST_MODE]));
    let mut events = Vec::new();
    assert!(matches!(
        consumer.drain(&mut events),
        Err(ShmError::UnknownRecord(77))
    ));
    let one = |x, y, width, height| Rect {
        x,
        y,
        width,
        height,
    };
    assert_eq!(events, vec![Event::Damage(one(0, 0, 1, 1))]);
    events.clear();
    consumer.drain(&mut events).unwrap();
    assert_eq!(events, vec![Event::Damage(one(1, 1, 2, 2))]);
}

#[test]
fn damage_outside_the_mode_or_overflowing_is_refused() {
    let (region, mut consumer) = region_with_mode();
    let raw = region.raw();
    for words in [
        [DAMAGE, 0, 0, 33, 1, FIRST_MODE],
        [DAMAGE, 0, 16, 1, 1, FIRST_MODE],
        [DAMAGE, u32::MAX, 0, 2, 1, FIRST_MODE],
        [DAMAGE, 0, u32::MAX - 1, 1, 4, FIRST_MODE],
        [DAMAGE, 0, 0, 0, 0, FIRST_MODE],
    ] {
        raw.push(record(&words));
        assert!(
            matches!(
                consumer.drain(&mut Vec::new()),
                Err(ShmError::RectOutsideMode { .. })
            ),
            "{words:?}"
        );
    }
}

#[test]
fn damage_before_any_mode_is_refused() {
    let region = TestRegion::new(&SMALL);
    let mut consumer = region.synced_consumer();
    region.raw().push(record(&[DAMAGE, 0, 0, 1, 1, 0]));
    assert!(matches!(
        consumer.drain(&mut Vec::new()),
        Err(ShmError::NoMode)
    ));
}

#[test]
fn damage_naming_a_future_mode_is_refused_and_a_past_mode_ignored() {
    let (region, mut consumer) = region_with_mode();
    let raw = region.raw();
    raw.push(record(&[DAMAGE, 0, 0, 1, 1, FIRST_MODE + 1]));
    assert!(matches!(
        consumer.drain(&mut Vec::new()),
        Err(ShmError::UnannouncedMode {
            serial: 2,
            current: 1
        })
    ));
    // Stale damage (from before a resync) is dropped, even if it would not
    // fit the current mode.
    raw.push(record(&[DAMAGE, 0, 0, 64, 48, FIRST_MODE - 1]));
    let mut events = Vec::new();
    consumer.drain(&mut events).unwrap();
    assert!(events.is_empty());
}

#[test]
fn impossible_mode_records_are_refused_and_keep_the_old_mode() {
    let (region, mut consumer) = region_with_mode();
    let raw = region.raw();
    for words in [
        [MODE, 65, 10, 260, FIRST_MODE + 1],
        [MODE, 10, 10, 8, FIRST_MODE + 1],
        [MODE, 64, 48, u32::MAX, FIRST_MODE + 1],
        [MODE, 0, 0, 0, FIRST_MODE + 1],
    ] {
        raw.push(record(&words));
        assert!(
            matches!(
                consumer.drain(&mut Vec::new()),
                Err(ShmError::InvalidMode { .. })
            ),
            "{words:?}"
        );
    }
    // Damage is still checked against the 32x16 mode.
    raw.push(record(&[DAMAGE, 31, 15, 1, 1, FIRST_MODE]));
    consumer.drain(&mut Vec::new()).unwrap();
}

#[test]
fn a_garbage_mode_in_the_header_fails_mode_and_copies() {
    let (region, consumer) = region_with_mode();
    let raw = region.raw();
    raw.set32(Word::ModeStride, u32::MAX);
    assert!(matches!(consumer.mode(), Err(ShmError::InvalidMode { .. })));
    let whole = Rect {
        x: 0,
        y: 0,
        width: 1,
        height: 1,
    };
    let mut out = Vec::new();
    assert!(matches!(
        consumer.copy_rect(whole, &mut out),
        Err(ShmError::InvalidMode { .. })
    ));
    assert!(out.is_empty());
    // A writer that never finishes its update.
    raw.set32(Word::ModeSeq, 1);
    assert!(matches!(consumer.mode(), Err(ShmError::Contended)));
}

#[test]
fn a_resync_that_fails_is_retried_on_the_next_drain() {
    let (region, mut consumer) = region_with_mode();
    let raw = region.raw();
    raw.set32(Word::Overflow, 1);
    raw.set32(Word::ModeSeq, 1);
    assert!(matches!(
        consumer.drain(&mut Vec::new()),
        Err(ShmError::Contended)
    ));
    raw.set32(Word::ModeSeq, 2);
    let mut events = Vec::new();
    consumer.drain(&mut events).unwrap();
    assert_eq!(events.last(), Some(&Event::Overflow));
}

#[test]
fn a_garbage_cursor_is_refused() {
    let (region, mut consumer) = region_with_mode();
    let raw = region.raw();
    raw.set32(Word::CursorSerial, 5);
    raw.set32(Word::CursorWidth, 100_000);
    raw.set32(Word::CursorHeight, 100_000);
    assert!(matches!(
        consumer.cursor(),
        Err(ShmError::InvalidCursor { .. })
    ));
    raw.push(record(&[SHAPE, 5]));
    assert!(matches!(
        consumer.drain(&mut Vec::new()),
        Err(ShmError::InvalidCursor { .. })
    ));
    raw.set32(Word::CursorWidth, 4);
    raw.set32(Word::CursorHeight, 4);
    raw.set32(Word::CursorHotX, 4);
    assert!(matches!(
        consumer.cursor(),
        Err(ShmError::InvalidCursor { .. })
    ));
}

/// xorshift64*, so the fuzz run is the same every time.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn random_garbage_never_panics() {
    let region = TestRegion::new(&SMALL);
    let raw = region.raw();
    let mut consumer = region.consumer();
    let mut state = 0x9e37_79b9_7f4a_7c15;
    let words = [
        Word::ModeSeq,
        Word::ModeWidth,
        Word::ModeHeight,
        Word::ModeStride,
        Word::ModeFormat,
        Word::CursorSeq,
        Word::CursorWidth,
        Word::CursorHeight,
        Word::CursorHotX,
        Word::CursorHotY,
        Word::CursorSerial,
        Word::Overflow,
    ];
    let mut events = Vec::new();
    let mut pixels = Vec::new();
    for round in 0..3000 {
        // Mostly small values, so that some garbage passes validation and
        // reaches the deeper code paths.
        let small = |s: &mut u64| {
            let v = next(s);
            if v.is_multiple_of(4) {
                v as u32
            } else {
                (v >> 32) as u32 % 80
            }
        };
        for _ in 0..3 {
            let word = words[(next(&mut state) % words.len() as u64) as usize];
            let value = if word == Word::ModeSeq || word == Word::CursorSeq {
                (small(&mut state)) & !1
            } else {
                small(&mut state)
            };
            raw.set32(word, value);
        }
        for _ in 0..2 {
            let kind = (next(&mut state) % 6) as u32;
            let mut slot = [0u32; RECORD_WORDS];
            slot[0] = kind;
            for w in &mut slot[1..] {
                *w = small(&mut state);
            }
            raw.push(slot);
        }
        match next(&mut state) % 8 {
            0 => raw.set64(DWord::RingHead, next(&mut state)),
            1 => raw.set64(DWord::CursorPosition, next(&mut state)),
            _ => {}
        }
        events.clear();
        let _ = consumer.drain(&mut events);
        let _ = consumer.mode();
        let _ = consumer.cursor();
        let _ = consumer.cursor_position();
        pixels.clear();
        let r = Rect {
            x: small(&mut state),
            y: small(&mut state),
            width: small(&mut state),
            height: small(&mut state),
        };
        let _ = consumer.copy_rect(r, &mut pixels);
        assert!(pixels.len() <= 64 * 48 * 4, "round {round}");
    }
}

#[test]
fn unknown_pixel_formats_are_refused_in_the_ring_and_the_header() {
    let (region, mut consumer) = region_with_mode();
    let raw = region.raw();
    // A mode record naming format 7: refused, the old mode stays.
    raw.push(record(&[MODE, 16, 8, 64, FIRST_MODE + 1, 7]));
    let mut events = Vec::new();
    assert!(matches!(
        consumer.drain(&mut events),
        Err(ShmError::UnknownPixelFormat(7))
    ));
    assert!(events.is_empty());
    assert_eq!(consumer.mode().unwrap().width, 32);

    // The same garbage in the header's mode: reading the mode fails typed.
    raw.set32(Word::ModeFormat, u32::MAX);
    assert!(matches!(
        consumer.mode(),
        Err(ShmError::UnknownPixelFormat(u32::MAX))
    ));
    let mut out = Vec::new();
    assert!(consumer
        .copy_rect(
            Rect {
                x: 0,
                y: 0,
                width: 1,
                height: 1
            },
            &mut out
        )
        .is_err());
}
