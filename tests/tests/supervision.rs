//! Worker supervision: a worker process that dies (SIGKILL, a restart asked
//! for on the control socket, or dying at every start) is restarted by the
//! supervisor and the client's session goes on over the same TCP
//! connections, until the restart budget is spent; then that worker is
//! given up and only its channels go away.
//!
//! The client here is the Rust test client with main, display, cursor and
//! inputs channels. It decodes the uncompressed bitmaps it receives (it does
//! not announce LZ4), so after a restart its own picture can be compared with
//! `ctl screendump` as well as a fresh `spicy-screenshot`'s.
//!
//! After every scenario the supervisor must still run and have no zombie
//! children. A last test removes the server's binary file before a restart
//! (what a package upgrade does): the restarted worker must still start.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{json, Value};
use spicebox_tests::client::{
    consts::*, drain_until_quiet, expect_open, key_body, modifiers_body, wait_full_draw, Channel,
    ClientSurface, RedrawLog, Session, MSG_CURSOR_INIT, MSG_CURSOR_SET,
    MSG_DISPLAY_INVAL_ALL_PALETTES, MSG_DISPLAY_INVAL_ALL_PIXMAPS,
};
use spicebox_tests::harness::{
    assert_same_image, event_matches, pid_alive, session_channels, spicy_screenshot,
    worker_entry_phase, worker_entry_pid, worker_history, InputLog, Server, TempDir,
};

/// Bound on a worker being replaced after it died.
const RESTART_TIMEOUT: Duration = Duration::from_secs(15);
/// Bound on the full redraw reaching the client after a restart.
const REDRAW_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on the messages read while waiting for a redraw.
const REDRAW_MAX_MESSAGES: usize = 10_000;
/// Time the other channels are read to see that they stay open.
const OPEN_CHECK: Duration = Duration::from_millis(200);
/// Bound for zombies to be reaped.
const SETTLE: Duration = Duration::from_secs(5);
/// A display channel that got nothing for this long is taken as idle.
const QUIET: Duration = Duration::from_millis(400);

/// A Rust-client session with every channel the demo serves.
struct Client {
    session: Session,
    display: Channel,
    cursor: Channel,
    inputs: Channel,
    surface: ClientSurface,
    /// Generation of the last display SET_ACK.
    display_generation: u32,
}

impl Client {
    /// Connects main, display 0, cursor 0 and inputs 0 and waits for the
    /// first complete picture, the cursor's INIT and the inputs' INIT.
    fn connect(server: &Server) -> Client {
        let session = Session::connect(server.addr(), "").expect("main channel");
        let mut display = session.open_display(0).expect("display channel");
        let mut cursor = session
            .open(CHANNEL_CURSOR, 0, &[])
            .expect("cursor channel");
        let mut inputs = session.open_inputs().expect("inputs channel");
        let mut surface = ClientSurface::default();
        let first = wait_full_draw(
            &mut display,
            &mut surface,
            REDRAW_TIMEOUT,
            REDRAW_MAX_MESSAGES,
        )
        .unwrap_or_else(|e| panic!("first picture on the display channel: {e}"));
        let display_generation = *first
            .set_ack_generations
            .last()
            .unwrap_or_else(|| panic!("no SET_ACK before the first picture: {:?}", first.types));
        cursor
            .recv_type(MSG_CURSOR_INIT, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("cursor INIT: {e}"));
        inputs
            .recv_type(MSG_INPUTS_INIT, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("inputs INIT: {e}"));
        let mut client = Client {
            session,
            display,
            cursor,
            inputs,
            surface,
            display_generation,
        };
        client.settle("after connecting");
        client
    }

    /// Reads everything already on its way (the display until it has been
    /// quiet for a while, the other channels briefly), so that what arrives
    /// next is a reaction to what the test does next.
    fn settle(&mut self, context: &str) {
        drain_until_quiet(
            &mut self.display,
            &mut self.surface,
            QUIET,
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("{context}: display channel: {e}"));
        let chans: [(&str, &mut Channel); 3] = [
            ("main", &mut self.session.main),
            ("cursor", &mut self.cursor),
            ("inputs", &mut self.inputs),
        ];
        for (name, ch) in chans {
            if let Err(e) = expect_open(ch, Duration::from_millis(100)) {
                panic!("{context}: the client's {name} connection broke: {e}");
            }
        }
    }

    /// Reads every channel but `skip` for a moment; panics if one closed.
    fn assert_open(&mut self, context: &str, skip: &[u8]) {
        let chans: [(&str, u8, &mut Channel); 4] = [
            ("main", CHANNEL_MAIN, &mut self.session.main),
            ("display", CHANNEL_DISPLAY, &mut self.display),
            ("cursor", CHANNEL_CURSOR, &mut self.cursor),
            ("inputs", CHANNEL_INPUTS, &mut self.inputs),
        ];
        for (name, t, ch) in chans {
            if skip.contains(&t) {
                continue;
            }
            if let Err(e) = expect_open(ch, OPEN_CHECK) {
                panic!("{context}: the client's {name} connection broke: {e}");
            }
        }
    }
}

/// Waits until session `sid` lists a display, cursor and inputs channel.
fn wait_session_complete(server: &Server, sid: u32) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let chans = session_channels(server, sid);
        let has = |t: &str| chans.iter().any(|(ty, _)| ty == t);
        if has("display") && has("cursor") && has("inputs") {
            return chans;
        }
        if Instant::now() >= deadline {
            panic!("session {sid} never listed display, cursor and inputs: {chans:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A "died" event of `pid` in the worker's history whose detail contains
/// `needle`; panics with the history otherwise.
fn assert_died(worker: &Value, role: &str, pid: u32, needle: &str) {
    let history = worker_history(worker);
    let died = history.iter().find(|e| {
        e.get("event").and_then(Value::as_str) == Some("died")
            && e.get("pid").and_then(Value::as_u64) == Some(u64::from(pid))
    });
    match died {
        Some(e) => {
            let detail = e.get("detail").and_then(Value::as_str).unwrap_or("");
            assert!(
                detail.contains(needle),
                "{role} worker {pid}: died event's detail {detail:?} does not mention {needle:?}; \
                 history: {history:?}"
            );
        }
        None => panic!("{role} worker {pid}: no \"died\" event in its history: {history:?}"),
    }
}

/// Checks a display channel's messages after its worker was replaced:
/// a SET_ACK with a generation other than `old_generation`, INVAL_ALL_PIXMAPS
/// (no channels to wait for) and INVAL_ALL_PALETTES before the full draw, no
/// new SURFACE_CREATE. Returns the new generation.
fn check_redraw(context: &str, log: &RedrawLog, old_generation: u32) -> u32 {
    let full = log
        .full_draw_at
        .expect("wait_full_draw returned a full draw");
    let generation = *log.set_ack_generations.last().unwrap_or_else(|| {
        panic!(
            "{context}: no SET_ACK from the new display worker before the redraw: {:?}",
            log.types
        )
    });
    assert_ne!(
        generation, old_generation,
        "{context}: the new worker's SET_ACK kept the old ACK generation; messages: {:?}",
        log.types
    );
    let pix = log.position(MSG_DISPLAY_INVAL_ALL_PIXMAPS);
    assert!(
        pix.is_some_and(|i| i < full),
        "{context}: no INVAL_ALL_PIXMAPS (106) before the full DRAW_COPY; messages: {:?}",
        log.types
    );
    assert_eq!(
        log.small_body(MSG_DISPLAY_INVAL_ALL_PIXMAPS),
        Some(&[0u8][..]),
        "{context}: INVAL_ALL_PIXMAPS body should be a zero wait-list count"
    );
    assert!(
        log.position(MSG_DISPLAY_INVAL_ALL_PALETTES)
            .is_some_and(|i| i < full),
        "{context}: no INVAL_ALL_PALETTES (108) before the full DRAW_COPY; messages: {:?}",
        log.types
    );
    assert!(
        log.position(MSG_DISPLAY_SURFACE_CREATE).is_none(),
        "{context}: a SURFACE_CREATE for an unchanged surface; messages: {:?}",
        log.types
    );
    generation
}

/// Waits for SET_ACK followed by CURSOR_SET on the cursor channel.
fn wait_cursor_resync(context: &str, cursor: &mut Channel) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let mut set_ack = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match cursor.recv(left) {
            Ok((t, _)) => {
                seen.push(t);
                if t == MSG_SET_ACK {
                    set_ack = true;
                } else if t == MSG_CURSOR_SET && set_ack {
                    return;
                }
            }
            Err(e) => panic!(
                "{context}: the cursor channel got no SET_ACK + CURSOR_SET from the new \
                 worker: {e}; messages: {seen:?}"
            ),
        }
    }
}

/// The picture the Rust client holds, the server's screendump and a fresh
/// spicy-screenshot are the same.
fn assert_pictures_agree(context: &str, server: &Server, client: &Client) {
    let dump = server.screendump();
    assert!(
        dump.distinct_colours(8) >= 2,
        "{context}: the demo desktop is one colour; comparing would prove nothing"
    );
    let mine = client
        .surface
        .image()
        .unwrap_or_else(|| panic!("{context}: the Rust client has no surface"));
    assert_same_image(&format!("{context}-rust-client"), &dump, &mine);
    let shot = spicy_screenshot(server.port(), None)
        .unwrap_or_else(|e| panic!("{context}: spicy-screenshot failed: {e}"));
    assert_same_image(&format!("{context}-spicy"), &dump, &shot);
}

#[test]
fn display_worker_killed_three_times_session_goes_on() {
    let mut server = Server::start(&["--disable-ticketing", "--demo-freeze"]);
    let mut client = Client::connect(&server);
    let sid = client.session.session_id;
    assert_pictures_agree("before-any-kill", &server, &client);
    let channels_before = wait_session_complete(&server, sid);

    for round in 1..=3 {
        let ctx = format!("SIGKILL #{round} of the display worker");
        client.settle(&ctx);
        let old = server.running_worker_pid("display", RESTART_TIMEOUT);
        let restarts_before = server.worker_status("display")["restarts"]
            .as_u64()
            .unwrap_or(0);
        server.signal_worker(old, Signal::SIGKILL);

        let log = wait_full_draw(
            &mut client.display,
            &mut client.surface,
            REDRAW_TIMEOUT,
            REDRAW_MAX_MESSAGES,
        )
        .unwrap_or_else(|e| panic!("{ctx}: the client's display channel got no full redraw: {e}"));
        let dest = log.full_draw_dest.expect("full draw");
        let (w, h) = client.surface.size.expect("surface");
        assert!(dest.covers(w, h), "{ctx}: redraw box {dest:?} vs {w}x{h}");
        client.display_generation = check_redraw(&ctx, &log, client.display_generation);
        wait_cursor_resync(&ctx, &mut client.cursor);
        client.assert_open(&ctx, &[CHANNEL_DISPLAY, CHANNEL_CURSOR]);

        let w = server.wait_worker_replaced("display", old, RESTART_TIMEOUT);
        let new = worker_entry_pid(&w);
        assert!(
            pid_alive(new),
            "{ctx}: new display worker {new} is not alive"
        );
        assert!(
            !pid_alive(old),
            "{ctx}: the killed display worker {old} still exists (not reaped?)"
        );
        assert_died(&w, "display", old, "SIGKILL");
        assert!(
            w["restarts"].as_u64().unwrap_or(0) > restarts_before,
            "{ctx}: restarts did not grow: {w}"
        );
        assert_eq!(
            session_channels(&server, sid),
            channels_before,
            "{ctx}: the session's channels changed"
        );
        assert_pictures_agree(&format!("after-kill-{round}"), &server, &client);
        server.assert_healthy(&ctx, SETTLE);
    }
    // The session is still whole: a last look at every connection.
    client.assert_open("after three kills", &[]);
}

/// Starts a frozen demo that logs input events to a file.
fn start_with_input_log(extra: &[&str]) -> (Server, InputLog, TempDir) {
    let dir = TempDir::new("spicebox-sup").expect("temp dir");
    let path = dir.path().join("input.jsonl");
    let mut args = vec![
        "--disable-ticketing",
        "--demo-freeze",
        "--demo-input-log",
        path.to_str().expect("UTF-8 temp path"),
    ];
    args.extend_from_slice(extra);
    (Server::start(&args), InputLog::new(path), dir)
}

/// Sends a press and release of set-1 `code` and waits until both are the
/// last two key events of session `sid` in the input log.
fn type_key_and_expect(context: &str, inputs: &mut Channel, log: &InputLog, sid: u32, code: u32) {
    let before = log.events().expect("input log").len();
    inputs
        .send(MSGC_INPUTS_KEY_DOWN, &key_body(code))
        .unwrap_or_else(|e| panic!("{context}: sending KEY_DOWN: {e}"));
    inputs
        .send(MSGC_INPUTS_KEY_UP, &key_body(code | 0x80))
        .unwrap_or_else(|e| panic!("{context}: sending KEY_UP: {e}"));
    let want = [
        json!({"session": sid, "event": "key", "code": code, "pressed": true}),
        json!({"session": sid, "event": "key", "code": code, "pressed": false}),
    ];
    let got = log
        .wait_until(Duration::from_secs(15), |ev| {
            ev.len() >= before + 2
                && ev[before..]
                    .windows(2)
                    .any(|w| event_matches(&w[0], &want[0]) && event_matches(&w[1], &want[1]))
        })
        .expect("input log");
    let new = &got[before.min(got.len())..];
    assert!(
        new.windows(2)
            .any(|w| event_matches(&w[0], &want[0]) && event_matches(&w[1], &want[1])),
        "{context}: key {code:#x} did not reach the host; new events: {new:?}"
    );
}

/// Waits for KEY_MODIFIERS on `inputs`; returns its u16 value.
fn wait_key_modifiers(context: &str, inputs: &mut Channel, timeout: Duration) -> u16 {
    let body = inputs
        .recv_type(MSG_INPUTS_KEY_MODIFIERS, timeout)
        .unwrap_or_else(|e| panic!("{context}: no KEY_MODIFIERS (inputs msg 102): {e}"));
    assert_eq!(
        body.len(),
        2,
        "{context}: KEY_MODIFIERS body is u16, got {body:02x?}"
    );
    u16::from_le_bytes([body[0], body[1]])
}

/// Num Lock on (SPICE_KEYBOARD_MODIFIER_FLAGS_NUM_LOCK).
const NUM_LOCK: u16 = 2;

/// Turns Num Lock on from the client and waits until the host has it.
fn set_num_lock(inputs: &mut Channel, log: &InputLog, sid: u32) {
    inputs
        .send(MSGC_INPUTS_KEY_MODIFIERS, &modifiers_body(NUM_LOCK))
        .expect("sending KEY_MODIFIERS");
    let want = json!({"session": sid, "event": "lock_state", "modifiers": NUM_LOCK});
    let got = log
        .wait_until(Duration::from_secs(15), |ev| {
            ev.iter().any(|e| event_matches(e, &want))
        })
        .expect("input log");
    assert!(
        got.iter().any(|e| event_matches(e, &want)),
        "the host never got Num Lock: {got:?}"
    );
    // The host reports its new LED state back; let it arrive (not required
    // here: what a restarted worker says is what is checked).
    let _ = inputs.recv_type(MSG_INPUTS_KEY_MODIFIERS, Duration::from_secs(3));
}

#[test]
fn inputs_worker_killed_three_times_keys_still_arrive() {
    let (mut server, log, _dir) = start_with_input_log(&[]);
    let mut client = Client::connect(&server);
    let sid = client.session.session_id;
    let channels_before = wait_session_complete(&server, sid);
    type_key_and_expect("before any kill", &mut client.inputs, &log, sid, 0x1e);
    set_num_lock(&mut client.inputs, &log, sid);

    for round in 1..=3u32 {
        let ctx = format!("SIGKILL #{round} of the inputs worker");
        client.settle(&ctx);
        let old = server.running_worker_pid("inputs", RESTART_TIMEOUT);
        server.signal_worker(old, Signal::SIGKILL);

        let leds = wait_key_modifiers(&ctx, &mut client.inputs, RESTART_TIMEOUT);
        assert_eq!(
            leds, NUM_LOCK,
            "{ctx}: the new inputs worker's KEY_MODIFIERS is not the host's lock state"
        );
        let w = server.wait_worker_replaced("inputs", old, RESTART_TIMEOUT);
        assert_died(&w, "inputs", old, "SIGKILL");
        assert!(
            !pid_alive(old),
            "{ctx}: the killed inputs worker {old} still exists (not reaped?)"
        );
        // q, w, e: a key typed after the restart reaches the host.
        type_key_and_expect(&ctx, &mut client.inputs, &log, sid, 0x0f + round);
        client.assert_open(&ctx, &[]);
        assert_eq!(
            session_channels(&server, sid),
            channels_before,
            "{ctx}: the session's channels changed"
        );
        server.assert_healthy(&ctx, SETTLE);
    }
}

/// Runs `ctl restart-worker ROLE`; returns the stopped pid it reports.
fn ctl_restart(server: &Server, role: &str) -> u32 {
    let out = server
        .ctl(&["restart-worker", role])
        .unwrap_or_else(|e| panic!("ctl restart-worker {role}: {e}"));
    assert!(
        out.success(),
        "ctl restart-worker {role} failed: {}",
        out.describe()
    );
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "ctl restart-worker {role} printed no JSON ({e}): {:?}",
            out.stdout
        )
    });
    assert_eq!(
        v.get("ok"),
        Some(&json!(true)),
        "ctl restart-worker {role}: {v}"
    );
    v.get("stopped_pid")
        .and_then(Value::as_u64)
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or_else(|| panic!("ctl restart-worker {role}: no stopped_pid in {v}"))
}

#[test]
fn restart_worker_on_request_is_not_budgeted() {
    // Six restarts on request each (one more than the budget of 5
    // unintended deaths a minute allows): none counts, the workers keep
    // running, the session is resynchronised every time.
    let (mut server, log, _dir) = start_with_input_log(&[]);
    let mut client = Client::connect(&server);
    let sid = client.session.session_id;
    let channels_before = wait_session_complete(&server, sid);
    set_num_lock(&mut client.inputs, &log, sid);
    const ROUNDS: u32 = 6;

    let restarts0 = server.worker_status("display")["restarts"]
        .as_u64()
        .unwrap_or(0);
    for round in 1..=ROUNDS {
        let ctx = format!("restart-worker display #{round}");
        client.settle(&ctx);
        let old = server.running_worker_pid("display", RESTART_TIMEOUT);
        let stopped = ctl_restart(&server, "display");
        assert_eq!(stopped, old, "{ctx}: stopped_pid is not the running worker");
        let log = wait_full_draw(
            &mut client.display,
            &mut client.surface,
            REDRAW_TIMEOUT,
            REDRAW_MAX_MESSAGES,
        )
        .unwrap_or_else(|e| panic!("{ctx}: no full redraw: {e}"));
        client.display_generation = check_redraw(&ctx, &log, client.display_generation);
        wait_cursor_resync(&ctx, &mut client.cursor);
        let w = server.wait_worker_replaced("display", old, RESTART_TIMEOUT);
        assert_died(&w, "display", old, "");
        client.assert_open(&ctx, &[CHANNEL_DISPLAY, CHANNEL_CURSOR]);
    }
    let w = server.worker_status("display");
    assert_eq!(
        worker_entry_phase(&w),
        "running",
        "display after {ROUNDS} requested restarts: {w}"
    );
    assert!(
        w["restarts"].as_u64().unwrap_or(0) >= restarts0 + u64::from(ROUNDS),
        "display restarts did not count {ROUNDS} restarts: {w}"
    );
    assert_pictures_agree("after-requested-restarts", &server, &client);

    for round in 1..=ROUNDS {
        let ctx = format!("restart-worker inputs #{round}");
        client.settle(&ctx);
        let old = server.running_worker_pid("inputs", RESTART_TIMEOUT);
        let stopped = ctl_restart(&server, "inputs");
        assert_eq!(stopped, old, "{ctx}: stopped_pid is not the running worker");
        let leds = wait_key_modifiers(&ctx, &mut client.inputs, RESTART_TIMEOUT);
        assert_eq!(leds, NUM_LOCK, "{ctx}: KEY_MODIFIERS after the restart");
        server.wait_worker_replaced("inputs", old, RESTART_TIMEOUT);
        type_key_and_expect(&ctx, &mut client.inputs, &log, sid, 0x10 + (round % 10));
        client.assert_open(&ctx, &[]);
    }
    let w = server.worker_status("inputs");
    assert_eq!(
        worker_entry_phase(&w),
        "running",
        "inputs after {ROUNDS} requested restarts: {w}"
    );
    assert_eq!(
        session_channels(&server, sid),
        channels_before,
        "the session's channels changed"
    );
    server.assert_healthy("after requested restarts", SETTLE);
}

#[test]
fn inputs_dying_at_every_start_is_given_up_display_goes_on() {
    let (mut server, _log, _dir) =
        start_with_input_log(&["--test-hooks", "--test-fault-at-start", "inputs"]);
    let started = Instant::now();

    // A session that links before the give-up (if it can): its inputs
    // connection must be closed then, its main and display must not.
    let mut session = Session::connect(server.addr(), "").expect("main channel");
    let mut display = session.open_display(0).expect("display channel");
    let mut surface = ClientSurface::default();
    wait_full_draw(
        &mut display,
        &mut surface,
        REDRAW_TIMEOUT,
        REDRAW_MAX_MESSAGES,
    )
    .unwrap_or_else(|e| panic!("first picture: {e}"));
    let early_inputs = match session.open_inputs() {
        Ok(ch) => Some(ch),
        Err(e) if e.is_channel_not_available() => None,
        Err(e) => panic!("inputs link before the give-up failed unexpectedly: {e}"),
    };

    let w = server
        .wait_worker("inputs", Duration::from_secs(20), |w| {
            worker_entry_phase(w) == "given-up"
        })
        .unwrap_or_else(|e| panic!("the inputs worker was not given up within 20 s: {e}"));
    assert!(
        started.elapsed() <= Duration::from_secs(20),
        "given up only after {:?}",
        started.elapsed()
    );
    assert_eq!(worker_entry_pid(&w), 0, "a given-up worker has pid 0: {w}");
    let history = worker_history(&w);
    let died: Vec<&Value> = history
        .iter()
        .filter(|e| e.get("event").and_then(Value::as_str) == Some("died"))
        .collect();
    assert_eq!(
        died.len(),
        6,
        "expected 6 deaths (budget 5 + 1) before the give-up; history: {history:?}"
    );
    // Checked last, so that a failure here still shows the rest works.
    let not_sigsys: Vec<&&Value> = died
        .iter()
        .filter(|d| {
            !d.get("detail")
                .and_then(Value::as_str)
                .unwrap_or("")
                .contains("SIGSYS")
        })
        .collect();
    assert!(
        history
            .last()
            .and_then(|e| e.get("event"))
            .and_then(Value::as_str)
            == Some("given-up"),
        "the history does not end with given-up: {history:?}"
    );

    match early_inputs {
        Some(mut ch) => {
            if let Err(e) = ch.wait_closed(Duration::from_secs(10)) {
                panic!("the inputs connection of a given-up worker was not closed: {e}");
            }
        }
        None => eprintln!(
            "note: the inputs worker was given up before the test could link inputs; \
             the close of an open inputs connection was not observed"
        ),
    }
    if let Err(e) = expect_open(&mut display, OPEN_CHECK) {
        panic!("the display connection broke when inputs was given up: {e}");
    }
    if let Err(e) = expect_open(&mut session.main, OPEN_CHECK) {
        panic!("the main connection broke when inputs was given up: {e}");
    }

    // New inputs links are refused, on the old session and on a new one.
    match session.open_inputs() {
        Ok(_) => panic!("an inputs link was accepted although inputs was given up"),
        Err(e) => assert!(
            e.is_channel_not_available(),
            "inputs link after the give-up: expected CHANNEL_NOT_AVAILABLE, got {e}"
        ),
    }
    let fresh = Session::connect(server.addr(), "").expect("a new session's main channel");
    match fresh.open_inputs() {
        Ok(_) => panic!("a new session's inputs link was accepted although inputs was given up"),
        Err(e) => assert!(
            e.is_channel_not_available(),
            "new session's inputs link: expected CHANNEL_NOT_AVAILABLE, got {e}"
        ),
    }
    let mut fresh_display = fresh.open_display(0).expect("a new session's display");
    let mut fresh_surface = ClientSurface::default();
    wait_full_draw(
        &mut fresh_display,
        &mut fresh_surface,
        REDRAW_TIMEOUT,
        REDRAW_MAX_MESSAGES,
    )
    .unwrap_or_else(|e| panic!("a new session's display after the give-up: {e}"));

    // The display worker still serves real clients.
    let dump = server.screendump();
    let shot = spicy_screenshot(server.port(), None)
        .unwrap_or_else(|e| panic!("spicy-screenshot after inputs was given up: {e}"));
    assert_same_image("inputs-given-up-spicy", &dump, &shot);
    assert_same_image(
        "inputs-given-up-rust-client",
        &dump,
        &fresh_surface.image().expect("surface"),
    );
    let d = server.worker_status("display");
    assert_eq!(worker_entry_phase(&d), "running", "display worker: {d}");

    let given_up_lines: Vec<String> = server
        .log_text()
        .lines()
        .filter(|l| {
            l.contains("inputs")
                && (l.contains("giving up") || l.contains("given up") || l.contains("given-up"))
        })
        .map(str::to_owned)
        .collect();
    assert!(
        !given_up_lines.is_empty(),
        "the server log has no line saying the inputs worker was given up"
    );
    server.assert_healthy("after inputs was given up", SETTLE);
    assert!(
        not_sigsys.is_empty(),
        "deaths at start that were not SIGSYS (the fault at start is a forbidden system \
         call): {not_sigsys:?}; history: {history:?}"
    );
}

#[test]
fn restart_works_after_the_binary_was_replaced_on_disk() {
    // A package upgrade (or a rebuild) replaces the spicebox file under a
    // running server. A restarted worker must still start, and be the same
    // build as its supervisor: the supervisor should re-execute its own
    // image (/proc/self/exe opened at start), not look the path up again.
    let dir = TempDir::new("spicebox-bin").expect("temp dir");
    let copy = dir.path().join("spicebox");
    let original = spicebox_tests::harness::spicebox_bin();
    if std::fs::hard_link(&original, &copy).is_err() {
        std::fs::copy(&original, &copy).expect("copying the spicebox binary");
    }
    let mut server = Server::start_from(&copy, &["--disable-ticketing", "--demo-freeze"]);
    let mut client = Client::connect(&server);
    std::fs::remove_file(&copy).expect("removing the binary copy");
    client.settle("binary removed");

    let old = server.running_worker_pid("display", RESTART_TIMEOUT);
    server.signal_worker(old, Signal::SIGKILL);
    let w = server
        .wait_worker("display", RESTART_TIMEOUT, |w| {
            let pid = worker_entry_pid(w);
            worker_entry_phase(w) == "running" && pid != 0 && pid != old && pid_alive(pid)
        })
        .unwrap_or_else(|e| {
            panic!(
                "the display worker was not restarted once the server's binary file was \
                 gone: {e}; start errors in the log: {:?}",
                server.log_lines_with("could not be started")
            )
        });
    assert_died(&w, "display", old, "SIGKILL");
    let log = wait_full_draw(
        &mut client.display,
        &mut client.surface,
        REDRAW_TIMEOUT,
        REDRAW_MAX_MESSAGES,
    )
    .unwrap_or_else(|e| panic!("no full redraw after the restart: {e}"));
    check_redraw("binary replaced", &log, client.display_generation);
    client.assert_open("binary replaced", &[CHANNEL_DISPLAY]);
    server.assert_healthy("binary replaced", SETTLE);
}
