//! `--source x11:DISPLAY`: spicebox in front of an existing X display.
//!
//! Each test starts its own `Xvfb` and, on it, a small X client written
//! here with x11rb (the "painter"): a window covering the screen with a
//! known picture, which records the key and button presses it receives.
//! The real `spicy-screenshot` must then show exactly what `xwd -root`
//! reads from the X server; keys and a click sent by the Rust test client
//! must reach the painter with the right keycode, button and position; a
//! repaint must reach the client; killing the X server must leave
//! spicebox running, the session open, and the "gone" picture on screen
//! (`--on-host-exit wait`, the default), or show that picture, close the
//! client's connections and exit with status 0 (`--on-host-exit end`);
//! and a RandR resize of the X screen must reach the client as a surface
//! of the new size that equals `xwd -root`.
//!
//! Everything waits with a time limit; Xvfb, the painter and spicebox are
//! stopped by their own PIDs (or threads) when the test ends.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use spicebox_tests::client::{
    button_body, consts::*, drain_until_quiet, key_body, motion_body, wait_full_draw, Channel,
    ClientSurface, Session,
};
use spicebox_tests::ending::{follow_until_closed, Ending, END_TIMEOUT};
use spicebox_tests::harness::{run_with_timeout, spicy_screenshot, Server, TempDir};
use spicebox_tests::image::{assert_same_image, diff, Image};
use spicebox_tests::live_client::{crop, xwd_root, Xvfb};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ConnectionExt as _, CreateGCAux, CreateWindowAux, EventMask, ImageFormat, ImageOrder,
    InputFocus, Window, WindowClass,
};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;
use x11rb::CURRENT_TIME;

/// The X screen: small, so captures and screenshots are quick.
const SCREEN: (u32, u32) = (640, 480);
/// How long a picture may take to reach the client.
const PICTURE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long input may take to reach the painter.
const INPUT_TIMEOUT: Duration = Duration::from_secs(10);
/// Rows per PutImage request: 32 rows of 640 pixels stay far below the
/// core protocol's 256 KiB request limit.
const STRIP_ROWS: u32 = 32;
/// The block the painter changes on request.
const CHANGED: (u32, u32, u32, u32) = (100, 80, 200, 120);

// ---------------------------------------------------------------------------
// The painter: an X client with a known picture that records input

/// What the painter saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Key { keycode: u8 },
    Button { button: u8, x: i16, y: i16 },
}

/// A running painter thread.
struct Painter {
    seen: Receiver<Seen>,
    repaint: Sender<()>,
    repainted: Receiver<()>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl Painter {
    /// Connects to `display`, shows the picture and waits (bounded) until
    /// it is on the screen.
    fn start(display: &str) -> Painter {
        let (seen_tx, seen) = mpsc::channel();
        let (repaint, repaint_rx) = mpsc::channel();
        let (repainted_tx, repainted) = mpsc::channel();
        let (ready_tx, ready) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let display = display.to_string();
        let stop_flag = stop.clone();
        let thread = std::thread::spawn(move || {
            paint_and_record(
                &display,
                &stop_flag,
                &ready_tx,
                &repaint_rx,
                &repainted_tx,
                &seen_tx,
            )
        });
        let mut painter = Painter {
            seen,
            repaint,
            repainted,
            stop,
            thread: Some(thread),
        };
        if ready.recv_timeout(Duration::from_secs(10)).is_err() {
            panic!("the painter did not show its window: {}", painter.finish());
        }
        painter
    }

    /// Changes [`CHANGED`] and waits until the server has drawn it.
    fn repaint(&self) {
        self.repaint.send(()).expect("painter gone");
        self.repainted
            .recv_timeout(Duration::from_secs(10))
            .expect("the painter did not repaint");
    }

    /// The next `n` things the painter saw, within [`INPUT_TIMEOUT`].
    fn wait_seen(&self, n: usize) -> Vec<Seen> {
        let deadline = Instant::now() + INPUT_TIMEOUT;
        let mut got = Vec::new();
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.seen.recv_timeout(left) {
                Ok(s) => got.push(s),
                Err(_) => panic!(
                    "the X client received {got:?} within {INPUT_TIMEOUT:?}, \
                     expected {n} events"
                ),
            }
        }
        got
    }

    /// Stops the thread; its error, if it had one.
    fn finish(&mut self) -> String {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            Some(Err(_)) => "the painter panicked".into(),
            _ => "no error".into(),
        }
    }
}

impl Drop for Painter {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The picture as 0x00RRGGBB: gradients, a checkerboard and flat bars, so
/// that a shifted, scaled or channel-swapped copy never matches.
fn pixel(x: u32, y: u32, changed: bool) -> u32 {
    let (cx, cy, cw, ch) = CHANGED;
    if changed && (cx..cx + cw).contains(&x) && (cy..cy + ch).contains(&y) {
        return if (x / 8 + y / 8).is_multiple_of(2) {
            0x00ff_4080
        } else {
            0x0010_2030
        };
    }
    if y >= 400 {
        return [0x00ff_0000, 0x0000_ff00, 0x0000_00ff, 0x00ff_ffff][(x / 160) as usize % 4];
    }
    let r = x * 255 / SCREEN.0;
    let g = y * 255 / SCREEN.1;
    let b = (x ^ y) & 0xff;
    (r << 16) | (g << 8) | b
}

fn paint_and_record(
    display: &str,
    stop: &AtomicBool,
    ready: &Sender<()>,
    repaint: &Receiver<()>,
    repainted: &Sender<()>,
    seen: &Sender<Seen>,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let (conn, screen) = x11rb::connect(Some(display)).map_err(|e| err(&e))?;
    let scr = &conn.setup().roots[screen];
    if conn.setup().image_byte_order != ImageOrder::LSB_FIRST || scr.root_depth != 24 {
        return Err("the painter draws 24-bit little-endian pixels only".into());
    }
    let root = scr.root;
    let window = conn.generate_id().map_err(|e| err(&e))?;
    conn.create_window(
        scr.root_depth,
        window,
        root,
        0,
        0,
        SCREEN.0 as u16,
        SCREEN.1 as u16,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &CreateWindowAux::new()
            // No window manager: place it ourselves, keep it there.
            .override_redirect(1)
            .event_mask(EventMask::EXPOSURE | EventMask::KEY_PRESS | EventMask::BUTTON_PRESS),
    )
    .map_err(|e| err(&e))?;
    let gc = conn.generate_id().map_err(|e| err(&e))?;
    conn.create_gc(gc, window, &CreateGCAux::new())
        .map_err(|e| err(&e))?;
    conn.map_window(window).map_err(|e| err(&e))?;
    conn.sync().map_err(|e| err(&e))?;
    conn.set_input_focus(InputFocus::POINTER_ROOT, window, CURRENT_TIME)
        .map_err(|e| err(&e))?;
    let mut changed = false;
    put_picture(&conn, window, gc, scr.root_depth, changed)?;
    let _ = ready.send(());
    while !stop.load(Ordering::Relaxed) {
        while let Some(event) = conn.poll_for_event().map_err(|e| err(&e))? {
            match event {
                Event::Expose(e) if e.count == 0 => {
                    put_picture(&conn, window, gc, scr.root_depth, changed)?;
                }
                Event::KeyPress(e) => {
                    let _ = seen.send(Seen::Key { keycode: e.detail });
                }
                Event::ButtonPress(e) => {
                    let _ = seen.send(Seen::Button {
                        button: e.detail,
                        x: e.event_x,
                        y: e.event_y,
                    });
                }
                _ => {}
            }
        }
        if repaint.try_recv().is_ok() {
            changed = true;
            put_picture(&conn, window, gc, scr.root_depth, changed)?;
            let _ = repainted.send(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Puts the whole picture into `window` and waits until the server has it.
fn put_picture(
    conn: &RustConnection,
    window: Window,
    gc: u32,
    depth: u8,
    changed: bool,
) -> Result<(), String> {
    let (w, h) = SCREEN;
    for top in (0..h).step_by(STRIP_ROWS as usize) {
        let rows = STRIP_ROWS.min(h - top);
        let mut data = Vec::with_capacity((w * rows * 4) as usize);
        for y in top..top + rows {
            for x in 0..w {
                data.extend_from_slice(&pixel(x, y, changed).to_le_bytes());
            }
        }
        conn.put_image(
            ImageFormat::Z_PIXMAP,
            window,
            gc,
            w as u16,
            rows as u16,
            0,
            top as i16,
            0,
            depth,
            &data,
        )
        .map_err(|e| e.to_string())?;
    }
    conn.sync().map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------
// Helpers

/// An X display with the painter on it, and spicebox serving it.
struct Rig {
    // Field order is drop order: spicebox, then the painter, then Xvfb.
    server: Server,
    painter: Painter,
    xvfb: Xvfb,
    dir: TempDir,
}

impl Rig {
    fn start(label: &str) -> Rig {
        let dir = TempDir::new(label).expect("temp dir");
        let xvfb = Xvfb::start(SCREEN, &dir.path().join("xvfb.log"))
            .unwrap_or_else(|e| panic!("{label}: Xvfb: {e}"));
        let painter = Painter::start(&xvfb.display());
        let source = format!("x11:{}", xvfb.display());
        let server = Server::start(&["--disable-ticketing", "--source", &source]);
        Rig {
            server,
            painter,
            xvfb,
            dir,
        }
    }

    /// `xwd -root` of the display.
    fn xwd(&self) -> Image {
        xwd_root(&self.xvfb.display(), &self.dir.path().join("root.xwd"))
            .unwrap_or_else(|e| panic!("xwd of {}: {e}", self.xvfb.display()))
    }
}

/// Takes spicy-screenshots until one equals `expected` (at most
/// [`PICTURE_TIMEOUT`]); fails with the last one's difference.
fn client_shows(label: &str, server: &Server, expected: &Image) {
    let deadline = Instant::now() + PICTURE_TIMEOUT;
    loop {
        let shot = spicy_screenshot(server.port(), None)
            .unwrap_or_else(|e| panic!("{label}: spicy-screenshot: {e}"));
        if diff(expected, &shot).is_equal() || Instant::now() >= deadline {
            assert_same_image(label, expected, &shot);
            return;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The host's "gone" picture as the client decodes it (the one saying the
/// session ends, with `ended`).
fn gone_image(display: &str, ended: bool) -> Image {
    let bgrx = if ended {
        spicebox_vdi::x11::ended_picture(SCREEN.0, SCREEN.1, display)
    } else {
        spicebox_vdi::x11::gone_picture(SCREEN.0, SCREEN.1, display)
    };
    let rgb = bgrx
        .chunks_exact(4)
        .flat_map(|p| [p[2], p[1], p[0]])
        .collect();
    Image {
        width: SCREEN.0,
        height: SCREEN.1,
        rgb,
    }
}

fn session_listed(server: &Server, id: u32) -> bool {
    server.ctl_status()["sessions"]
        .as_array()
        .is_some_and(|s| s.iter().any(|s| s["id"] == id))
}

/// The client's picture, once it equals `expected` (at most
/// [`PICTURE_TIMEOUT`]); fails with the difference.
fn surface_shows(
    label: &str,
    display: &mut Channel,
    surface: &mut ClientSurface,
    expected: &Image,
) {
    let deadline = Instant::now() + PICTURE_TIMEOUT;
    // Bounded by the deadline; the count bounds a server that never
    // stops sending.
    for _ in 0..10_000 {
        drain_until_quiet(
            display,
            surface,
            Duration::from_millis(300),
            PICTURE_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("{label}: display channel: {e}"));
        let shown = surface.image();
        if shown.as_ref().is_some_and(|s| diff(expected, s).is_equal()) {
            return;
        }
        if Instant::now() >= deadline {
            match shown {
                Some(shown) => assert_same_image(label, expected, &shown),
                None => panic!("{label}: the client has no surface"),
            }
            return;
        }
    }
    panic!("{label}: the display channel never settled");
}

/// Runs `xrandr ARGS` on `display` (at most 10 s); its standard output.
fn xrandr(display: &str, args: &[&str]) -> String {
    let mut cmd = Command::new("xrandr");
    cmd.env("DISPLAY", display).args(args);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("xrandr {args:?} (install x11-xserver-utils): {e}"));
    assert!(out.success(), "xrandr {args:?}: {}", out.describe());
    out.stdout
}

/// Switches the X screen to `width`x`height` the way a desktop's display
/// settings do: a mode of that size on the output, and a framebuffer to
/// match. Xvfb's RandR cannot make the screen larger than it started.
fn resize_x_screen(display: &str, (width, height): (u32, u32)) {
    let listing = xrandr(display, &["--query"]);
    let output = listing
        .lines()
        .find_map(|l| l.split_once(" connected"))
        .map(|(name, _)| name.to_string())
        .unwrap_or_else(|| panic!("no connected output in: {listing}"));
    let mode = format!("{width}x{height}");
    if !listing
        .lines()
        .any(|l| l.split_whitespace().next() == Some(mode.as_str()))
    {
        // Any timings do: Xvfb has no monitor to drive.
        let (w, h) = (width.to_string(), height.to_string());
        let timings = [
            "10".to_string(),
            w.clone(),
            (width + 8).to_string(),
            (width + 16).to_string(),
            (width + 24).to_string(),
            h.clone(),
            (height + 2).to_string(),
            (height + 4).to_string(),
            (height + 6).to_string(),
        ];
        let mut newmode = vec!["--newmode", mode.as_str()];
        newmode.extend(timings.iter().map(String::as_str));
        xrandr(display, &newmode);
        xrandr(display, &["--addmode", &output, &mode]);
    }
    xrandr(
        display,
        &["--output", &output, "--mode", &mode, "--fb", &mode],
    );
}

// ---------------------------------------------------------------------------
// Tests

#[test]
fn the_client_sees_the_x_display_and_drives_it() {
    let rig = Rig::start("spicebox-x11");
    let first = rig.xwd();
    assert!(
        first.distinct_colours(16) >= 16,
        "the painter's picture is not on the X screen"
    );
    client_shows("x11-first-picture", &rig.server, &first);

    // Input: move the pointer onto a known spot, click, type two keys.
    let session = Session::connect(rig.server.addr(), "").expect("session");
    let mut inputs = session.open_inputs().expect("inputs channel");
    inputs
        .recv_type(MSG_INPUTS_INIT, Duration::from_secs(10))
        .expect("INPUTS_INIT");
    // Far to the top left (the pointer stops at the screen's edge), then a
    // known distance from there: the position no longer depends on where
    // the pointer started.
    inputs
        .send(MSGC_INPUTS_MOUSE_MOTION, &motion_body(-5000, -5000, 0))
        .expect("motion");
    inputs
        .send(MSGC_INPUTS_MOUSE_MOTION, &motion_body(123, 45, 0))
        .expect("motion");
    inputs
        .send(MSGC_INPUTS_MOUSE_PRESS, &button_body(1, 1))
        .expect("press");
    inputs
        .send(MSGC_INPUTS_MOUSE_RELEASE, &button_body(1, 0))
        .expect("release");
    // 'a', then Up (e0 48), each pressed and released.
    for wire in [0x1e, 0x9e, 0x48e0, 0xc8e0] {
        let msg = if wire & 0x80 != 0 || wire & 0x8000 != 0 {
            MSGC_INPUTS_KEY_UP
        } else {
            MSGC_INPUTS_KEY_DOWN
        };
        inputs.send(msg, &key_body(wire)).expect("key");
    }
    let seen = rig.painter.wait_seen(3);
    assert_eq!(
        seen,
        [
            Seen::Button {
                button: 1,
                x: 123,
                y: 45
            },
            // X keycodes on Xvfb's evdev keymap: a = 38, Up = 111.
            Seen::Key { keycode: 38 },
            Seen::Key { keycode: 111 },
        ],
        "what the X client received"
    );

    // A change on the X screen reaches the client.
    rig.painter.repaint();
    let second = rig.xwd();
    assert!(
        !diff(&first, &second).is_equal(),
        "the repaint did not change the X screen"
    );
    client_shows("x11-after-repaint", &rig.server, &second);
}

#[test]
fn killing_the_x_server_leaves_spicebox_serving_the_gone_picture() {
    let mut rig = Rig::start("spicebox-x11-gone");
    client_shows("x11-before-kill", &rig.server, &rig.xwd());
    let session = Session::connect(rig.server.addr(), "").expect("session");
    let display = rig.xvfb.display();

    rig.xvfb.kill();
    client_shows("x11-gone", &rig.server, &gone_image(&display, false));

    assert!(rig.server.is_running(), "spicebox exited with its X server");
    assert!(
        session_listed(&rig.server, session.session_id),
        "the session open before the X server died was closed"
    );
    let host = rig.server.ctl_status()["host"]["pid"].as_u64().unwrap_or(0);
    assert!(
        host != 0 && Path::new(&format!("/proc/{host}")).exists(),
        "the host process is gone"
    );
    let lost = rig.server.log_lines_with("lost the X display");
    assert_eq!(lost.len(), 1, "expected one error line, got {lost:?}");
}

#[test]
fn killing_the_x_server_with_on_host_exit_end_ends_spicebox() {
    let dir = TempDir::new("spicebox-x11-end").expect("temp dir");
    let mut xvfb =
        Xvfb::start(SCREEN, &dir.path().join("xvfb.log")).unwrap_or_else(|e| panic!("Xvfb: {e}"));
    let _painter = Painter::start(&xvfb.display());
    let display = xvfb.display();
    let mut spicebox = Ending::start(&format!("x11:{display}"), &[], dir.path());

    let mut session = Session::connect(spicebox.addr(), "").expect("session");
    let mut channel = session.open_display(0).expect("display channel");
    let mut surface = ClientSurface::default();
    let first = xwd_root(&display, &dir.path().join("root.xwd"))
        .unwrap_or_else(|e| panic!("xwd of {display}: {e}"));
    surface_shows("x11-end-before", &mut channel, &mut surface, &first);

    let killed = Instant::now();
    xvfb.kill();
    follow_until_closed(&mut channel, &mut surface, END_TIMEOUT)
        .unwrap_or_else(|e| panic!("after the X server died: {e}"));
    let last = surface.image().expect("a picture before the end");
    assert_same_image("x11-end-last-picture", &gone_image(&display, true), &last);
    spicebox.assert_ends_with_its_machine(&mut session.main, killed, "x11 end");
}

#[test]
fn a_resized_x_screen_reaches_the_client_at_its_new_size() {
    let rig = Rig::start("spicebox-x11-resize");
    let display = rig.xvfb.display();
    let session = Session::connect(rig.server.addr(), "").expect("session");
    let mut channel = session.open_display(0).expect("display channel");
    let mut surface = ClientSurface::default();
    wait_full_draw(&mut channel, &mut surface, PICTURE_TIMEOUT, 10_000)
        .unwrap_or_else(|e| panic!("first picture: {e}"));
    let full = rig.xwd();
    surface_shows("x11-resize-before", &mut channel, &mut surface, &full);
    assert_eq!(surface.size, Some(SCREEN));

    // Smaller, then back: Xvfb's screen cannot grow past its start size.
    // The painter's window stays 640x480: the smaller screen shows its
    // top-left part, the larger one all of it again (repainted on Expose).
    let smaller = (512, 384);
    let cropped = crop(&full, (0, 0), smaller).expect("crop");
    for (step, size, expected) in [(1, smaller, cropped), (2, SCREEN, full)] {
        let label = format!("x11-resize-{step}");
        resize_x_screen(&display, size);
        let deadline = Instant::now() + PICTURE_TIMEOUT;
        loop {
            let root = rig.xwd();
            if diff(&expected, &root).is_equal() {
                break;
            }
            if Instant::now() >= deadline {
                assert_same_image(&format!("{label}-xwd"), &expected, &root);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        surface_shows(&label, &mut channel, &mut surface, &expected);
        assert_eq!(
            surface.size,
            Some(size),
            "{label}: the client's surface size"
        );
    }
    assert!(
        rig.server.log_lines_with("panicked").is_empty(),
        "a panic in the log"
    );
}
