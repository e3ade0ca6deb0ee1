//! The host loop against a real region and socket pair, playing the
//! supervisor and the display worker in this process.

use std::time::{Duration, Instant};

use spicebox_ipc::{socket_pair, split_sync, FromHost, InputEvent, ToHost};
use spicebox_shm::{
    create_region, Consumer, Doorbell, Event, Mode, PixelFormat, Producer, ShmLayout,
};

use crate::{run, DemoOptions, VdiError};

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("spicebox-vdi-{}-{name}", std::process::id()))
}

#[test]
fn run_publishes_the_desktop_logs_input_in_order_and_ends_when_the_peer_closes() {
    let region = create_region(&ShmLayout {
        max_width: 640,
        max_height: 400,
        ring_records: 256,
    })
    .unwrap();
    let producer = Producer::open(region.try_clone().unwrap()).unwrap();
    let mut consumer = Consumer::open(region).unwrap();
    let doorbell = Doorbell::new().unwrap();
    let worker_bell = Doorbell::from_fd(doorbell.try_clone_fd().unwrap());
    let (host_end, supervisor_end) = socket_pair().unwrap();
    let (host_tx, host_rx) = split_sync::<FromHost, ToHost>(host_end);
    let (mut sup_tx, mut sup_rx) = split_sync::<ToHost, FromHost>(supervisor_end);

    let log = temp_path("input.jsonl");
    let _ = std::fs::remove_file(&log);
    let opts = DemoOptions {
        width: 640,
        height: 400,
        fps: 60,
        input_log: Some(log.clone()),
        ..DemoOptions::default()
    };
    let host = std::thread::spawn(move || run(opts, producer, doorbell, host_tx, host_rx));

    assert_eq!(sup_rx.recv().unwrap(), FromHost::Leds { modifiers: 0 });
    worker_bell.wait().unwrap();
    let mut events = Vec::new();
    consumer.drain(&mut events).unwrap();
    let mode = Mode {
        width: 640,
        height: 400,
        stride: 2560,
        format: PixelFormat::Xrgb32,
    };
    assert!(events.contains(&Event::ModeChanged(mode)), "{events:?}");
    assert!(events.contains(&Event::Damage(mode.full_rect())));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::CursorShape(c) if c.width == 24)));

    let sent = [
        (
            3,
            InputEvent::Key {
                code: 0x23,
                pressed: true,
            },
        ),
        (
            3,
            InputEvent::Key {
                code: 0x23,
                pressed: false,
            },
        ),
        (3, InputEvent::PointerMotion { dx: -5, dy: 7 }),
        (
            4,
            InputEvent::PointerPosition {
                x: 10,
                y: 20,
                display: 0,
            },
        ),
        (
            4,
            InputEvent::Button {
                button: 1,
                pressed: true,
            },
        ),
        (4, InputEvent::LockState { modifiers: 4 }),
    ];
    for (session_id, event) in sent {
        sup_tx.send(&ToHost::Input { session_id, event }).unwrap();
    }
    // The lock state comes back as LEDs.
    assert_eq!(sup_rx.recv().unwrap(), FromHost::Leds { modifiers: 4 });

    // The pointer move reaches the display side within a few frames.
    let deadline = Instant::now() + Duration::from_secs(5);
    while consumer.cursor_position() != (10, 20) {
        assert!(Instant::now() < deadline, "pointer never arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
    events.clear();
    consumer.drain(&mut events).unwrap();
    assert!(events.iter().any(|e| matches!(e, Event::Damage(_))));

    drop(sup_tx);
    drop(sup_rx);
    let result = host.join().unwrap();
    assert!(result.is_ok(), "{result:?}");

    let written = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    let expected = [
        r#"{"session":3,"event":"key","code":35,"pressed":true}"#,
        r#"{"session":3,"event":"key","code":35,"pressed":false}"#,
        r#"{"session":3,"event":"motion","dx":-5,"dy":7}"#,
        r#"{"session":4,"event":"position","x":10,"y":20,"display":0}"#,
        r#"{"session":4,"event":"button","button":1,"pressed":true}"#,
        r#"{"session":4,"event":"lock_state","modifiers":4}"#,
    ];
    assert_eq!(written.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn run_refuses_bad_options_before_touching_anything() {
    let region = create_region(&ShmLayout::default()).unwrap();
    let producer = Producer::open(region).unwrap();
    let (host_end, _supervisor_end) = socket_pair().unwrap();
    let (tx, rx) = split_sync::<FromHost, ToHost>(host_end);
    let opts = DemoOptions {
        width: 100,
        ..DemoOptions::default()
    };
    let result = run(opts, producer, Doorbell::new().unwrap(), tx, rx);
    assert!(matches!(result, Err(VdiError::InvalidSize { .. })));
}

#[test]
fn a_screen_larger_than_the_region_is_a_shared_memory_error() {
    let region = create_region(&ShmLayout {
        max_width: 640,
        max_height: 400,
        ring_records: 16,
    })
    .unwrap();
    let producer = Producer::open(region).unwrap();
    let (host_end, _supervisor_end) = socket_pair().unwrap();
    let (tx, rx) = split_sync::<FromHost, ToHost>(host_end);
    let result = run(
        DemoOptions::default(),
        producer,
        Doorbell::new().unwrap(),
        tx,
        rx,
    );
    assert!(matches!(result, Err(VdiError::Shm(_))));
}
