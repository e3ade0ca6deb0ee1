//! Keyboard and mouse input from a client reaches the host, translated and
//! in order.
//!
//! The Rust client sends KEY_DOWN/KEY_UP (plain and e0-extended codes),
//! KEY_SCANCODE byte strings (which hold presses and releases, and Pause's
//! e1 sequence), KEY_MODIFIERS, relative motion and button presses on the
//! inputs channel. The demo host writes every event it receives to
//! `--demo-input-log` as one JSON line; that file must hold exactly the
//! expected events in the same order.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use spicebox_tests::client::{
    button_body, caps, consts::*, has_cap, key_body, modifiers_body, motion_body, Session,
};
use spicebox_tests::harness::{event_matches, InputLog, Server, TempDir};

fn key(session: u32, code: u32, pressed: bool) -> Value {
    json!({"session": session, "event": "key", "code": code, "pressed": pressed})
}

fn start_with_input_log() -> (Server, InputLog, TempDir) {
    let dir = TempDir::new("spicebox-inputs").expect("temp dir");
    let log_path = dir.path().join("input.jsonl");
    let server = Server::start(&[
        "--disable-ticketing",
        "--demo-freeze",
        "--demo-input-log",
        log_path.to_str().expect("UTF-8 temp path"),
    ]);
    (server, InputLog::new(log_path), dir)
}

/// Waits until the input log holds `expected.len()` events (at most 15 s),
/// lets a moment pass for extra events, and compares.
fn assert_input_log(log: &InputLog, expected: &[Value]) {
    let got = log
        .wait_until(Duration::from_secs(15), |ev| ev.len() >= expected.len())
        .unwrap_or_else(|e| panic!("reading the input log: {e}"));
    std::thread::sleep(Duration::from_millis(500));
    let got_final = log
        .events()
        .unwrap_or_else(|e| panic!("reading the input log: {e}"));
    let got = if got_final.len() >= got.len() {
        got_final
    } else {
        got
    };
    let show = |v: &[Value]| {
        v.iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n  ")
    };
    let first_bad = expected
        .iter()
        .zip(&got)
        .position(|(e, g)| !event_matches(g, e));
    if got.len() != expected.len() || first_bad.is_some() {
        panic!(
            "input log ({}) differs from what the client sent\n\
             first difference at event {:?}; {} events expected, {} logged\n\
             expected:\n  {}\nlogged:\n  {}",
            log.path().display(),
            first_bad.or(Some(expected.len().min(got.len()))),
            expected.len(),
            got.len(),
            show(expected),
            show(&got)
        );
    }
}

#[test]
fn server_advertises_the_expected_caps() {
    let server = Server::start(&["--disable-ticketing", "--demo-freeze"]);
    let session = Session::connect(server.addr(), "").expect("session");
    for (bit, name) in [
        (COMMON_CAP_AUTH_SELECTION, "AUTH_SELECTION"),
        (COMMON_CAP_AUTH_SPICE, "AUTH_SPICE"),
        (COMMON_CAP_MINI_HEADER, "MINI_HEADER"),
    ] {
        assert!(
            has_cap(&session.main.server_common_caps, bit),
            "main link reply lacks common cap {name}: {:?}",
            session.main.server_common_caps
        );
    }
    assert!(
        session.main.mini_header(),
        "mini header not in use although both sides announced it"
    );
    // Server mouse mode only, for now.
    assert_eq!(
        session.init.supported_mouse_modes & 1,
        1,
        "SERVER mouse mode not supported: {:?}",
        session.init
    );
    assert_eq!(
        session.init.current_mouse_mode, 1,
        "current mouse mode is not SERVER: {:?}",
        session.init
    );
    assert!(
        session.channels.contains(&(CHANNEL_DISPLAY, 0))
            && session.channels.contains(&(CHANNEL_INPUTS, 0)),
        "CHANNELS_LIST lacks display 0 or inputs 0: {:?}",
        session.channels
    );

    let inputs = session.open_inputs().expect("inputs channel");
    assert!(
        has_cap(&inputs.server_channel_caps, INPUTS_CAP_KEY_SCANCODE),
        "inputs link reply lacks KEY_SCANCODE: {:?}",
        inputs.server_channel_caps
    );
    let display = session
        .open(CHANNEL_DISPLAY, 0, &caps(&[DISPLAY_CAP_MONITORS_CONFIG]))
        .expect("display channel");
    assert!(
        has_cap(&display.server_channel_caps, DISPLAY_CAP_MONITORS_CONFIG),
        "display link reply lacks MONITORS_CONFIG: {:?}",
        display.server_channel_caps
    );
}

#[test]
fn keys_and_mouse_reach_the_host_in_order() {
    let (server, log, _dir) = start_with_input_log();
    let session = Session::connect(server.addr(), "").expect("session");
    let sid = session.session_id;
    let mut inputs = session.open_inputs().expect("inputs channel");
    // The server tells the client its keyboard modifiers first.
    let init = inputs
        .recv_type(MSG_INPUTS_INIT, Duration::from_secs(10))
        .expect("INPUTS_INIT");
    assert_eq!(
        init.len(),
        2,
        "INPUTS_INIT body is u16 modifiers, got {init:02x?}"
    );

    let mut expected = Vec::new();

    // KEY_DOWN/KEY_UP: u32 holding set-1 bytes in wire order.
    let keys: [(u16, u32, u32, bool); 8] = [
        (MSGC_INPUTS_KEY_DOWN, 0x0000_001e, 30, true), // 'a'
        (MSGC_INPUTS_KEY_UP, 0x0000_009e, 30, false),
        (MSGC_INPUTS_KEY_DOWN, 0x0000_4de0, 0xe04d, true), // Right: e0 4d
        (MSGC_INPUTS_KEY_UP, 0x0000_cde0, 0xe04d, false),  // e0 cd
        (MSGC_INPUTS_KEY_DOWN, 0x0000_002a, 42, true),     // left Shift
        (MSGC_INPUTS_KEY_DOWN, 0x0000_1ce0, 0xe01c, true), // keypad Enter: e0 1c
        (MSGC_INPUTS_KEY_UP, 0x0000_9ce0, 0xe01c, false),
        (MSGC_INPUTS_KEY_UP, 0x0000_00aa, 42, false),
    ];
    for (msg, wire, code, pressed) in keys {
        inputs.send(msg, &key_body(wire)).expect("sending a key");
        expected.push(key(sid, code, pressed));
    }

    // KEY_SCANCODE: raw bytes, presses and releases together.
    type Expect = &'static [(u32, bool)];
    let scancodes: [(&[u8], Expect); 4] = [
        (&[0x1e, 0x9e], &[(30, true), (30, false)]),
        (
            &[0xe0, 0x4d, 0xe0, 0xcd],
            &[(0xe04d, true), (0xe04d, false)],
        ),
        (&[0xe1, 0x1d, 0x45], &[(0xe11d, true)]), // Pause press
        (&[0xe1, 0x9d, 0xc5], &[(0xe11d, false)]), // Pause release
    ];
    for (bytes, events) in scancodes {
        inputs
            .send(MSGC_INPUTS_KEY_SCANCODE, bytes)
            .expect("sending KEY_SCANCODE");
        for &(code, pressed) in events {
            expected.push(key(sid, code, pressed));
        }
    }
    // Several keys in one KEY_SCANCODE message.
    inputs
        .send(
            MSGC_INPUTS_KEY_SCANCODE,
            &[0x30, 0xb0, 0xe0, 0x48, 0xe0, 0xc8],
        )
        .expect("sending KEY_SCANCODE");
    for (code, pressed) in [(0x30, true), (0x30, false), (0xe048, true), (0xe048, false)] {
        expected.push(key(sid, code, pressed));
    }

    // Lock keys: num lock, then num + caps lock.
    for m in [2u16, 6] {
        inputs
            .send(MSGC_INPUTS_KEY_MODIFIERS, &modifiers_body(m))
            .expect("sending KEY_MODIFIERS");
        expected.push(json!({"session": sid, "event": "lock_state", "modifiers": m}));
    }

    // 20 relative motions, none of them zero.
    for i in 0..20i32 {
        let dx = if i % 2 == 0 { i + 1 } else { -(i + 1) };
        let dy = if i % 3 == 0 { -(2 * i + 1) } else { 3 * i - 2 };
        inputs
            .send(MSGC_INPUTS_MOUSE_MOTION, &motion_body(dx, dy, 0))
            .expect("sending MOUSE_MOTION");
        expected.push(json!({"session": sid, "event": "motion", "dx": dx, "dy": dy}));
    }
    // One MOUSE_MOTION_ACK per 4 motions: at least 5.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut acks = 0;
    while acks < 5 && Instant::now() < deadline {
        match inputs.recv(deadline.saturating_duration_since(Instant::now())) {
            Ok((MSG_INPUTS_MOUSE_MOTION_ACK, body)) => {
                assert!(body.is_empty(), "MOUSE_MOTION_ACK has a body: {body:02x?}");
                acks += 1;
            }
            Ok(_) => {}
            Err(e) => panic!("waiting for MOUSE_MOTION_ACK ({acks} so far): {e}"),
        }
    }
    assert!(acks >= 5, "only {acks} MOUSE_MOTION_ACKs for 20 motions");

    // Buttons: left press/release, right press/release (state after).
    for (msg, button, state, pressed) in [
        (MSGC_INPUTS_MOUSE_PRESS, 1u8, 1u16, true),
        (MSGC_INPUTS_MOUSE_RELEASE, 1, 0, false),
        (MSGC_INPUTS_MOUSE_PRESS, 3, 4, true),
        (MSGC_INPUTS_MOUSE_RELEASE, 3, 0, false),
    ] {
        inputs
            .send(msg, &button_body(button, state))
            .expect("sending a button");
        expected
            .push(json!({"session": sid, "event": "button", "button": button, "pressed": pressed}));
    }

    assert_input_log(&log, &expected);
}

#[test]
fn two_sessions_are_told_apart() {
    // Events carry the id of the session they came from.
    let (server, log, _dir) = start_with_input_log();
    let a = Session::connect(server.addr(), "").expect("session a");
    let mut ia = a.open_inputs().expect("inputs a");
    ia.send(MSGC_INPUTS_KEY_DOWN, &key_body(0x10)).expect("key"); // 'q'
    let got = log
        .wait_until(Duration::from_secs(15), |ev| !ev.is_empty())
        .expect("input log");
    assert!(
        !got.is_empty(),
        "first session's key never reached the host"
    );
    let b = Session::connect(server.addr(), "").expect("session b");
    assert_ne!(a.session_id, b.session_id, "two sessions got the same id");
    let mut ib = b.open_inputs().expect("inputs b");
    ib.send(MSGC_INPUTS_KEY_DOWN, &key_body(0x11)).expect("key"); // 'w'
    ia.send(MSGC_INPUTS_KEY_UP, &key_body(0x90)).expect("key");
    ib.send(MSGC_INPUTS_KEY_UP, &key_body(0x91)).expect("key");

    let got = log
        .wait_until(Duration::from_secs(15), |ev| ev.len() >= 4)
        .expect("input log");
    let of = |sid: u32| -> Vec<Value> {
        got.iter()
            .filter(|e| e.get("session") == Some(&json!(sid)))
            .cloned()
            .collect()
    };
    let (ea, eb) = (of(a.session_id), of(b.session_id));
    assert_eq!(
        ea.len() + eb.len(),
        got.len(),
        "events with unknown sessions: {got:?}"
    );
    assert!(
        ea.len() == 2
            && event_matches(&ea[0], &key(a.session_id, 0x10, true))
            && event_matches(&ea[1], &key(a.session_id, 0x10, false)),
        "session a's events: {ea:?}"
    );
    assert!(
        eb.len() == 2
            && event_matches(&eb[0], &key(b.session_id, 0x11, true))
            && event_matches(&eb[1], &key(b.session_id, 0x11, false)),
        "session b's events: {eb:?}"
    );
}
