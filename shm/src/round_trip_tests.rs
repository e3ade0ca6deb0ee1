//! Producer and consumer in one process, through two mappings of one memfd.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::test_support::{pattern, TestRegion, SMALL};
use crate::{CursorImage, Event, Mode, PixelFormat, Rect, ShmError, ShmLayout};

fn rect(x: u32, y: u32, width: u32, height: u32) -> Rect {
    Rect {
        x,
        y,
        width,
        height,
    }
}

fn arrow(width: u16, height: u16) -> Vec<u8> {
    (0..u32::from(width) * u32::from(height) * 4)
        .map(|i| i as u8)
        .collect()
}

#[test]
fn a_fresh_region_has_no_mode_no_cursor_and_drains_quietly() {
    let region = TestRegion::new(&ShmLayout::default());
    let mut consumer = region.consumer();
    assert_eq!(consumer.mode().unwrap(), Mode::NONE);
    assert_eq!(consumer.cursor().unwrap(), None);
    let mut events = Vec::new();
    consumer.drain(&mut events).unwrap();
    assert_eq!(events, vec![Event::CursorMoved { x: 0, y: 0 }]);
    events.clear();
    consumer.drain(&mut events).unwrap();
    assert!(events.is_empty());
    assert!(matches!(
        consumer.copy_rect(rect(0, 0, 1, 1), &mut Vec::new()),
        Err(ShmError::NoMode)
    ));
}

#[test]
fn events_arrive_in_order_and_pixels_match() {
    let region = TestRegion::new(&SMALL);
    let mut consumer = region.synced_consumer();
    let mut producer = region.producer();
    let picture = pattern(40, 30);
    producer.set_mode(40, 30).unwrap();
    producer
        .write_rect(rect(0, 0, 40, 30), &picture, 160)
        .unwrap();
    producer
        .write_rect(rect(5, 7, 3, 2), &picture, 160)
        .unwrap();
    producer.set_cursor_shape(4, 3, 1, 2, &arrow(4, 3)).unwrap();
    producer.move_cursor(-3, 12).unwrap();

    let mut events = Vec::new();
    consumer.drain(&mut events).unwrap();
    let mode = Mode {
        width: 40,
        height: 30,
        stride: 160,
        format: PixelFormat::Xrgb32,
    };
    let shape = CursorImage {
        width: 4,
        height: 3,
        hot_x: 1,
        hot_y: 2,
        serial: 1,
        argb: arrow(4, 3),
    };
    assert_eq!(
        events,
        vec![
            Event::ModeChanged(mode),
            Event::Damage(rect(0, 0, 40, 30)),
            Event::Damage(rect(5, 7, 3, 2)),
            Event::CursorShape(shape.clone()),
            Event::CursorMoved { x: -3, y: 12 },
        ]
    );
    assert_eq!(consumer.mode().unwrap(), mode);
    assert_eq!(consumer.cursor().unwrap(), Some(shape));
    assert_eq!(consumer.cursor_position(), (-3, 12));

    let mut pixels = vec![0xAA];
    consumer.copy_rect(rect(5, 7, 3, 2), &mut pixels).unwrap();
    let mut expected = vec![0xAA];
    for row in 7..9 {
        let start = row * 160 + 5 * 4;
        expected.extend_from_slice(&picture[start..start + 12]);
    }
    assert_eq!(pixels, expected);
}

#[test]
fn a_late_consumer_gets_the_current_state_instead_of_old_records() {
    let region = TestRegion::new(&SMALL);
    let mut producer = region.producer();
    producer.set_mode(64, 48).unwrap();
    producer
        .write_rect(rect(0, 0, 64, 48), &pattern(64, 48), 256)
        .unwrap();
    producer.set_cursor_shape(2, 2, 0, 0, &arrow(2, 2)).unwrap();
    producer.set_cursor_shape(3, 3, 1, 1, &arrow(3, 3)).unwrap();
    producer.move_cursor(10, 20).unwrap();

    let mut consumer = region.consumer();
    let mut events = Vec::new();
    consumer.drain(&mut events).unwrap();
    let mode = Mode {
        width: 64,
        height: 48,
        stride: 256,
        format: PixelFormat::Xrgb32,
    };
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(events[0], Event::ModeChanged(mode));
    assert!(matches!(&events[1], Event::CursorShape(c) if c.serial == 2 && c.width == 3));
    assert_eq!(events[2], Event::CursorMoved { x: 10, y: 20 });
    assert_eq!(events[3], Event::Damage(mode.full_rect()));
}

#[test]
fn several_shape_records_collapse_into_the_newest_shape() {
    let region = TestRegion::new(&SMALL);
    let mut consumer = region.synced_consumer();
    let mut producer = region.producer();
    producer.set_cursor_shape(2, 2, 0, 0, &arrow(2, 2)).unwrap();
    producer.set_cursor_shape(5, 5, 4, 4, &arrow(5, 5)).unwrap();
    let mut events = Vec::new();
    consumer.drain(&mut events).unwrap();
    assert_eq!(events.len(), 1);
    assert!(matches!(&events[0], Event::CursorShape(c) if c.serial == 2 && c.width == 5));
}

#[test]
fn copy_rect_refuses_rects_outside_the_mode() {
    let region = TestRegion::new(&SMALL);
    let consumer = region.consumer();
    let mut producer = region.producer();
    producer.set_mode(20, 10).unwrap();
    let mut out = Vec::new();
    for bad in [
        rect(0, 0, 21, 1),
        rect(19, 9, 2, 1),
        rect(0, 0, 0, 0),
        rect(u32::MAX, 0, 2, 2),
    ] {
        assert!(matches!(
            consumer.copy_rect(bad, &mut out),
            Err(ShmError::RectOutsideMode { .. })
        ));
    }
    assert!(out.is_empty());
}

#[test]
fn the_producer_refuses_bad_input() {
    let region = TestRegion::new(&SMALL);
    let mut producer = region.producer();
    assert!(matches!(
        producer.write_rect(rect(0, 0, 1, 1), &[0; 4], 4),
        Err(ShmError::NoMode)
    ));
    assert!(matches!(
        producer.set_mode(65, 10),
        Err(ShmError::InvalidMode { .. })
    ));
    assert!(matches!(
        producer.set_mode(0, 10),
        Err(ShmError::InvalidMode { .. })
    ));
    producer.set_mode(16, 16).unwrap();
    assert!(matches!(
        producer.write_rect(rect(8, 8, 9, 1), &[0; 1024], 64),
        Err(ShmError::RectOutsideMode { .. })
    ));
    assert!(matches!(
        producer.write_rect(rect(0, 0, 16, 16), &[0; 1023], 64),
        Err(ShmError::SourceTooSmall { .. })
    ));
    assert!(matches!(
        producer.write_rect(rect(0, 0, 16, 2), &[0; 1024], 32),
        Err(ShmError::SourceTooSmall { .. })
    ));
    assert!(matches!(
        producer.set_cursor_shape(257, 1, 0, 0, &[0; 257 * 4]),
        Err(ShmError::InvalidCursor { .. })
    ));
    assert!(matches!(
        producer.set_cursor_shape(2, 2, 0, 0, &[0; 15]),
        Err(ShmError::CursorDataLength { .. })
    ));
}

#[test]
fn a_full_ring_turns_into_an_overflow_and_then_recovers() {
    let region = TestRegion::new(&SMALL);
    let mut consumer = region.synced_consumer();
    let mut producer = region.producer();
    producer.set_mode(64, 48).unwrap();
    let picture = pattern(64, 48);
    for i in 0..20 {
        producer
            .write_rect(rect(i, 0, 1, 1), &picture, 256)
            .unwrap();
    }
    let mut events = Vec::new();
    consumer.drain(&mut events).unwrap();
    assert_eq!(events.last(), Some(&Event::Overflow), "{events:?}");
    assert!(events.contains(&Event::ModeChanged(Mode {
        width: 64,
        height: 48,
        stride: 256,
        format: PixelFormat::Xrgb32,
    })));

    events.clear();
    producer
        .write_rect(rect(3, 3, 2, 2), &picture, 256)
        .unwrap();
    consumer.drain(&mut events).unwrap();
    assert_eq!(events, vec![Event::Damage(rect(3, 3, 2, 2))]);
}

#[test]
fn state_changes_lost_in_an_overflow_are_reported_by_the_resync() {
    let region = TestRegion::new(&SMALL);
    let mut consumer = region.synced_consumer();
    let mut producer = region.producer();
    producer.set_mode(64, 48).unwrap();
    for _ in 0..8 {
        producer.move_cursor(1, 1).unwrap();
    }
    // All of these are dropped from the ring.
    producer.set_mode(32, 16).unwrap();
    producer.set_cursor_shape(2, 2, 1, 1, &arrow(2, 2)).unwrap();
    producer.move_cursor(7, 8).unwrap();

    let mut events = Vec::new();
    consumer.drain(&mut events).unwrap();
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(
        events[0],
        Event::ModeChanged(Mode {
            width: 32,
            height: 16,
            stride: 128,
            format: PixelFormat::Xrgb32,
        })
    );
    assert!(matches!(&events[1], Event::CursorShape(c) if c.serial == 1));
    assert_eq!(events[2], Event::CursorMoved { x: 7, y: 8 });
    assert_eq!(events[3], Event::Overflow);

    events.clear();
    producer
        .write_rect(rect(0, 0, 32, 16), &pattern(32, 16), 128)
        .unwrap();
    consumer.drain(&mut events).unwrap();
    assert_eq!(events, vec![Event::Damage(rect(0, 0, 32, 16))]);
}

#[test]
fn concurrent_producer_and_consumer_never_see_an_invalid_event() {
    let region = TestRegion::new(&SMALL);
    let mut producer = region.producer();
    let mut consumer = region.consumer();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_writer = stop.clone();
    let writer = std::thread::spawn(move || {
        let big = pattern(64, 48);
        let mut i = 0u32;
        while !stop_writer.load(Ordering::Relaxed) {
            let (w, h) = if i % 50 < 25 { (64, 48) } else { (17, 9) };
            if i.is_multiple_of(25) {
                producer.set_mode(w, h).unwrap();
            }
            let r = rect(i % w, i % h, 1 + (w - 1 - i % w).min(3), 1);
            producer.write_rect(r, &big, 256).unwrap();
            if i.is_multiple_of(7) {
                producer.move_cursor(i as i32, -(i as i32)).unwrap();
            }
            if i.is_multiple_of(31) {
                let side = 1 + (i % 16) as u16;
                let argb = vec![i as u8; usize::from(side) * usize::from(side) * 4];
                producer.set_cursor_shape(side, side, 0, 0, &argb).unwrap();
            }
            i = i.wrapping_add(1);
        }
    });
    let mut events = Vec::new();
    let mut pixels = Vec::new();
    let mut mode = Mode::NONE;
    let (mut mode_changes, mut overflows) = (0, 0);
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(300) {
        events.clear();
        consumer.drain(&mut events).unwrap();
        for event in &events {
            match event {
                Event::ModeChanged(m) => {
                    mode = *m;
                    mode_changes += 1;
                }
                Event::Damage(r) => assert!(r.fits_in(mode.width, mode.height), "{r:?} {mode:?}"),
                Event::CursorShape(c) => {
                    assert_eq!(
                        c.argb.len(),
                        usize::from(c.width) * usize::from(c.height) * 4
                    )
                }
                Event::Overflow => overflows += 1,
                Event::CursorMoved { .. } => {}
            }
        }
        // The mode may have moved on since; copying must fail cleanly or work.
        pixels.clear();
        match consumer.copy_rect(rect(0, 0, 17, 9), &mut pixels) {
            Ok(()) => assert_eq!(pixels.len(), 17 * 9 * 4),
            Err(ShmError::RectOutsideMode { .. } | ShmError::NoMode) => {}
            Err(e) => panic!("{e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(mode_changes > 2, "{mode_changes} mode changes");
    eprintln!("{mode_changes} mode changes, {overflows} overflows");
}

#[test]
fn an_alpha_mode_reaches_the_consumer_with_its_format() {
    let region = TestRegion::new(&SMALL);
    let mut producer = region.producer();
    let mut consumer = region.synced_consumer();
    producer
        .set_mode_with_format(20, 10, PixelFormat::Argb32)
        .unwrap();
    let mut events = Vec::new();
    consumer.drain(&mut events).unwrap();
    let argb = Mode {
        width: 20,
        height: 10,
        stride: 80,
        format: PixelFormat::Argb32,
    };
    assert_eq!(events, vec![Event::ModeChanged(argb)]);
    assert_eq!(consumer.mode().unwrap(), argb);
    // A late consumer learns the format from the header alone.
    assert_eq!(region.synced_consumer().mode().unwrap(), argb);

    // Back to opaque at the same size: a mode change of its own.
    producer.set_mode(20, 10).unwrap();
    events.clear();
    consumer.drain(&mut events).unwrap();
    assert_eq!(
        events,
        vec![Event::ModeChanged(Mode {
            format: PixelFormat::Xrgb32,
            ..argb
        })]
    );
}
