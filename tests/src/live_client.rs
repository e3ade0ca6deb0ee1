//! A real SPICE client that stays connected while a test plays a sequence
//! of updates, and a pixel-exact capture of what it decoded.
//!
//! `spicy-screenshot` saves the first picture and exits, so it never sees
//! later updates. [`LiveClient`] runs `spicy` (spice-gtk) instead, in its own
//! `Xvfb` (a display number Xvfb picks itself with `-displayfd`), with a
//! settings file that turns off scaling, guest resizing, the toolbar and
//! the status bar, so the guest's pixels land unscaled in the X framebuffer.
//! [`LiveClient::capture`] reads that framebuffer with `xwd -root`, and
//! [`find_exact`] locates the server's picture (`ctl screendump`) in it.
//!
//! Every external program runs with a time limit; Xvfb and spicy are
//! stopped by their own PIDs when the [`LiveClient`] is dropped (SIGTERM,
//! then SIGKILL), and die with the test thread that started them even when
//! the test binary is killed.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use spicebox_protocol::display::{ImagePayload, IMAGE_TYPE_GLZ_RGB};

use crate::client::consts::{
    CHANNEL_DISPLAY, DISPLAY_CAP_MONITORS_CONFIG, MSGC_DISPLAY_INIT, MSGC_INPUTS_KEY_DOWN,
    MSGC_INPUTS_KEY_UP, MSG_DISPLAY_DRAW_COPY,
};
use crate::client::{caps, key_body, Channel, ClientError, Session};
use crate::harness::{run_with_timeout, Server, TempDir};
use crate::image::{diff, Image, MAX_DIMENSION};

/// Size of the Xvfb screen: larger than the guest, so spicy's window with
/// its menu bar holds the whole guest picture unscaled.
pub const SCREEN: (u32, u32) = (1600, 1200);
/// How long Xvfb may take to report its display number.
pub const XVFB_START_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on one `xwd` run.
pub const CAPTURE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a stopped program may take to exit after SIGTERM.
pub const STOP_GRACE: Duration = Duration::from_secs(3);
/// Pause between two captures while waiting for a picture.
const POLL: Duration = Duration::from_millis(250);

/// What spicy reads from `$XDG_CONFIG_HOME/spicy/settings` (tools/spicy.c):
/// the `[general]` keys are properties of the display widget, `[ui]` the
/// visibility of the bars.
const SPICY_SETTINGS: &str = "[general]\nscaling=false\nresize-guest=false\n\
                              [ui]\ntoolbar=false\nstatusbar=false\n";

/// Programs the live client needs, with the Debian package of each.
pub const TOOLS: [(&str, &str); 3] = [
    ("Xvfb", "xvfb"),
    ("spicy", "spice-client-gtk"),
    ("xwd", "x11-apps"),
];

/// `name` found on PATH.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Why the live client cannot run here, if a program is missing.
pub fn missing_tools() -> Option<String> {
    let missing: Vec<String> = TOOLS
        .iter()
        .filter(|(program, _)| find_program(program).is_none())
        .map(|(program, package)| format!("{program} (package {package})"))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "not found on PATH: {}; install them (scripts/test.sh does it)",
            missing.join(", ")
        )
    })
}

// ---------------------------------------------------------------------------
// Child processes stopped by PID

/// A program this module started; stopped by its PID on drop.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Proc {
    /// Spawns `cmd`, which dies with the current thread (PDEATHSIG).
    fn spawn(name: &'static str, cmd: &mut Command) -> Result<Proc, String> {
        let staged = spicebox_sandbox::prepare_child(cmd, Vec::new())
            .map_err(|e| format!("preparing {name}: {e}"))?;
        let child = cmd.spawn().map_err(|e| format!("starting {name}: {e}"))?;
        drop(staged);
        Ok(Proc { name, child })
    }

    /// The exit status, if it has exited.
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while self.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.exited().is_none() {
            eprintln!("{} ignored SIGTERM; sending SIGKILL", self.name);
            // `Child::kill` sends SIGKILL to this child's PID only.
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// Xvfb

/// A virtual X server on a display number it chose itself.
pub struct Xvfb {
    proc: Proc,
    display: u32,
}

impl Xvfb {
    /// Starts `Xvfb -displayfd 1 -screen 0 WxHx24` and waits (at most
    /// [`XVFB_START_TIMEOUT`]) for the display number it prints once ready.
    pub fn start(screen: (u32, u32), log: &Path) -> Result<Xvfb, String> {
        let bin = find_program("Xvfb").ok_or("Xvfb not found on PATH: install xvfb")?;
        let stderr = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut cmd = Command::new(bin);
        cmd.args([
            "-displayfd",
            "1",
            "-nolisten",
            "tcp",
            "-noreset",
            "-screen",
            "0",
        ])
        .arg(format!("{}x{}x24", screen.0, screen.1))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
        let mut proc = Proc::spawn("Xvfb", &mut cmd)?;
        let stdout = proc.child.stdout.take().ok_or("Xvfb has no stdout pipe")?;
        let display = read_display_number(stdout, &mut proc, log)?;
        Ok(Xvfb { proc, display })
    }

    /// `:N`, for `DISPLAY`.
    pub fn display(&self) -> String {
        format!(":{}", self.display)
    }

    /// The X server's process id.
    pub fn pid(&self) -> u32 {
        self.proc.child.id()
    }

    /// Kills the X server at once (SIGKILL to its PID) and reaps it, as a
    /// crash would end it.
    pub fn kill(&mut self) {
        // `Child::kill` sends SIGKILL to this child's PID only.
        let _ = self.proc.child.kill();
        let _ = self.proc.child.wait();
    }

    /// Fails when the X server has exited.
    pub fn check_running(&mut self) -> Result<(), String> {
        match self.proc.exited() {
            None => Ok(()),
            Some(status) => Err(format!("Xvfb {} exited ({status})", self.display())),
        }
    }
}

/// Runs `xwd -root` on X display `display` (at most [`CAPTURE_TIMEOUT`]),
/// writing the dump to `path`, and decodes it.
pub fn xwd_root(display: &str, path: &Path) -> Result<Image, String> {
    let bin = find_program("xwd").ok_or("xwd not found on PATH: install x11-apps")?;
    let mut cmd = Command::new(bin);
    cmd.args(["-root", "-silent", "-display", display, "-out"])
        .arg(path);
    let out =
        run_with_timeout(&mut cmd, CAPTURE_TIMEOUT).map_err(|e| format!("running xwd: {e}"))?;
    if !out.success() {
        return Err(format!("xwd failed: {}", out.describe()));
    }
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_xwd(&data).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads the line Xvfb writes to `-displayfd` when it accepts clients.
fn read_display_number(
    stdout: std::process::ChildStdout,
    proc: &mut Proc,
    log: &Path,
) -> Result<u32, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).take(64).read_line(&mut line);
        let _ = tx.send(line);
    });
    let why = match rx.recv_timeout(XVFB_START_TIMEOUT) {
        Ok(line) => match line.trim().parse::<u32>() {
            Ok(n) => return Ok(n),
            Err(_) => format!("printed {line:?} instead of a display number"),
        },
        Err(_) => format!("gave no display number within {XVFB_START_TIMEOUT:?}"),
    };
    let status = proc.exited().map(|s| format!(" ({s})")).unwrap_or_default();
    Err(format!("Xvfb{status} {why}; its log: {}", log_tail(log)))
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let start = text.char_indices().rev().nth(3000).map_or(0, |(i, _)| i);
    text[start..].to_string()
}

// ---------------------------------------------------------------------------
// spicy

/// `spicy` connected to a server, in its own Xvfb.
pub struct LiveClient {
    // Field order is drop order: spicy goes before its X server.
    spicy: Proc,
    xvfb: Xvfb,
    dir: TempDir,
    captures: std::sync::atomic::AtomicU64,
}

impl LiveClient {
    /// Starts Xvfb and `spicy -h 127.0.0.1 -p PORT` with `extra_args`
    /// (e.g. `--spice-glz-window-size=BYTES`). Fails with a clear message
    /// when a program is missing. Returns as soon as spicy runs; use
    /// [`LiveClient::wait_for`] to know it shows something.
    pub fn start(port: u16, extra_args: &[&str]) -> Result<LiveClient, String> {
        if let Some(missing) = missing_tools() {
            return Err(missing);
        }
        let dir = TempDir::new("spicy-live").map_err(|e| format!("temp dir: {e}"))?;
        let config = dir.path().join("config");
        std::fs::create_dir_all(config.join("spicy"))
            .and_then(|()| std::fs::write(config.join("spicy").join("settings"), SPICY_SETTINGS))
            .map_err(|e| format!("writing spicy's settings: {e}"))?;
        let xvfb = Xvfb::start(SCREEN, &dir.path().join("xvfb.log"))?;
        let spicy = start_spicy(port, extra_args, &xvfb, &config, dir.path())?;
        Ok(LiveClient {
            spicy,
            xvfb,
            dir,
            captures: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Everything spicy has logged so far (with `--spice-debug`, what
    /// spice-gtk did with each channel).
    pub fn spicy_log_full(&self) -> String {
        let text = std::fs::read(self.dir.path().join("spicy.log")).unwrap_or_default();
        String::from_utf8_lossy(&text).into_owned()
    }

    /// The X display spicy runs on.
    pub fn display(&self) -> String {
        self.xvfb.display()
    }

    /// spicy's stdout and stderr so far (the end of them).
    pub fn spicy_log(&self) -> String {
        log_tail(&self.dir.path().join("spicy.log"))
    }

    /// Keeps the directory (logs, captures) after the test.
    pub fn keep_files(&mut self) -> &Path {
        self.dir.keep();
        self.dir.path()
    }

    /// Fails when spicy or its X server has exited.
    pub fn check_running(&mut self) -> Result<(), String> {
        self.xvfb.check_running()?;
        match self.spicy.exited() {
            None => Ok(()),
            Some(status) => Err(format!(
                "spicy exited ({status}); its log:\n{}",
                self.spicy_log()
            )),
        }
    }

    /// The whole X screen, as xwd reads it.
    pub fn capture(&self) -> Result<Image, String> {
        let n = self
            .captures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The newest capture is kept for post-mortem; older ones go.
        let path = self.dir.path().join(format!("capture-{}.xwd", n % 2));
        xwd_root(&self.display(), &path)
    }

    /// Captures until `expected` appears somewhere on the screen, exactly;
    /// returns where. Gives up after `timeout` (or when spicy exits) with
    /// what the last capture showed.
    pub fn wait_for(&mut self, expected: &Image, timeout: Duration) -> Result<(u32, u32), String> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_running()?;
            let capture = self.capture()?;
            let found = find_exact(&capture, expected);
            match found {
                Ok(at) => return Ok(at),
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!(
                        "the picture did not appear within {timeout:?}: {e}; spicy's log:\n{}",
                        self.spicy_log()
                    ))
                }
                Err(_) => std::thread::sleep(POLL),
            }
        }
    }

    /// Captures until the screen shows `expected` at `at`, exactly. Gives
    /// up after `timeout` with the last capture's picture at `at`, if any.
    pub fn wait_shows_at(
        &mut self,
        expected: &Image,
        at: (u32, u32),
        timeout: Duration,
    ) -> Result<(), Mismatch> {
        let deadline = Instant::now() + timeout;
        let size = (expected.width, expected.height);
        loop {
            let fail = |message: String, shown: Option<Image>| Mismatch { message, shown };
            self.check_running().map_err(|e| fail(e, None))?;
            let capture = self.capture().map_err(|e| fail(e, None))?;
            let Some(shown) = crop(&capture, at, size) else {
                let e = format!("the capture has no {size:?} area at {at:?}");
                return Err(fail(e, None));
            };
            let d = diff(expected, &shown);
            if d.is_equal() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let e = format!("after {timeout:?} spicy shows a different picture: {d}");
                return Err(fail(e, Some(shown)));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Like [`LiveClient::wait_shows_at`], but panics on a mismatch with
    /// the differing pixels (both pictures saved under `label`) and keeps
    /// spicy's log and captures for a post-mortem.
    pub fn assert_shows_at(
        &mut self,
        label: &str,
        expected: &Image,
        at: (u32, u32),
        timeout: Duration,
    ) {
        let Err(mismatch) = self.wait_shows_at(expected, at, timeout) else {
            return;
        };
        eprintln!(
            "spicy's log and captures kept in {}",
            self.keep_files().display()
        );
        match &mismatch.shown {
            Some(shown) => crate::image::assert_same_image(label, expected, shown),
            None => panic!("{label}: {mismatch}"),
        }
    }
}

/// What [`LiveClient::wait_shows_at`] saw instead of the expected picture.
#[derive(Debug)]
pub struct Mismatch {
    /// What went wrong, with the first differing pixels.
    pub message: String,
    /// The picture spicy showed at the expected place, when there was one.
    pub shown: Option<Image>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Starts spicy on `xvfb` with its settings under `config`; its output
/// goes to `dir/spicy.log`.
fn start_spicy(
    port: u16,
    extra_args: &[&str],
    xvfb: &Xvfb,
    config: &Path,
    dir: &Path,
) -> Result<Proc, String> {
    let bin = find_program("spicy").ok_or("spicy not found on PATH: install spice-client-gtk")?;
    let log_path = dir.join("spicy.log");
    let log = std::fs::File::create(&log_path).map_err(|e| format!("spicy log: {e}"))?;
    let log2 = log.try_clone().map_err(|e| format!("spicy log: {e}"))?;
    let mut cmd = Command::new(bin);
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()])
        // Channels this test has no use for stay closed.
        .args(["--spice-disable-audio", "--spice-disable-usbredir"])
        .args(extra_args)
        .env("DISPLAY", xvfb.display())
        .env("XDG_CONFIG_HOME", config)
        .env("GDK_BACKEND", "x11")
        // No accessibility bus exists here; looking for it only delays.
        .env("NO_AT_BRIDGE", "1")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    Proc::spawn("spicy", &mut cmd)
}

// ---------------------------------------------------------------------------
// Driving a scripted scene (`spicebox --demo-scene`) with the test client

/// Scancode of the key that starts a scene ('a'); any key press would do.
const START_KEY: u32 = 0x1e;

/// Starts the server's scene: a session of the Rust test client presses
/// and releases a key on its inputs channel, and stays connected until
/// the server logs `scene started` (at most 20 s).
pub fn press_start_key(server: &Server) -> Result<(), String> {
    let session = Session::connect(server.addr(), "").map_err(|e| format!("session: {e}"))?;
    let mut inputs = session
        .open_inputs()
        .map_err(|e| format!("inputs channel: {e}"))?;
    inputs
        .send(MSGC_INPUTS_KEY_DOWN, &key_body(START_KEY))
        .and_then(|()| inputs.send(MSGC_INPUTS_KEY_UP, &key_body(START_KEY | 0x80)))
        .map_err(|e| format!("sending the start key: {e}"))?;
    if server
        .wait_for_log(&["scene started"], Duration::from_secs(20))
        .is_empty()
    {
        return Err("the server never logged `scene started` after the key press".into());
    }
    Ok(())
}

/// One DRAW_COPY as the test client received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drawn {
    /// `IMAGE_TYPE_*` of the source image.
    pub image_type: u8,
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// Size of the DRAW_COPY body in bytes.
    pub bytes: usize,
    /// For GLZ images: the image id and `win_head_dist` from the GLZ
    /// header (the client may drop images older than `id - win_head_dist`).
    pub glz: Option<(u64, u32)>,
}

/// A test-client display channel read on its own thread, recording every
/// DRAW_COPY (so the server's ACK window never stalls it).
pub struct DrawRecorder {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<Vec<Drawn>, String>>,
}

impl DrawRecorder {
    /// Opens a session and display channel announcing a GLZ window of
    /// `glz_window_pixels` in DISPLAY_INIT, and returns once the first
    /// picture has arrived (within 30 s).
    pub fn start(addr: SocketAddr, glz_window_pixels: i32) -> Result<DrawRecorder, String> {
        let session = Session::connect(addr, "").map_err(|e| format!("session: {e}"))?;
        let mut display = session
            .open(CHANNEL_DISPLAY, 0, &caps(&[DISPLAY_CAP_MONITORS_CONFIG]))
            .map_err(|e| format!("display channel: {e}"))?;
        display
            .send(MSGC_DISPLAY_INIT, &display_init(glz_window_pixels))
            .map_err(|e| format!("DISPLAY_INIT: {e}"))?;
        let first = display
            .recv_type(MSG_DISPLAY_DRAW_COPY, Duration::from_secs(30))
            .map_err(|e| format!("the first picture: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            // The session's main channel must stay open while we read.
            let _session = session;
            let mut drawn = vec![drawn(&first)?];
            record(&mut display, &flag, &mut drawn)?;
            Ok(drawn)
        });
        Ok(DrawRecorder { stop, thread })
    }

    /// Stops reading and returns every DRAW_COPY received, the first
    /// picture included.
    pub fn finish(self) -> Result<Vec<Drawn>, String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| "the draw recorder panicked".to_string())?
    }
}

/// DISPLAY_INIT as spice-gtk sends it: cache id 1 of 20 Mi pixels, GLZ
/// dictionary 1 with a window of `glz_window_pixels`.
fn display_init(glz_window_pixels: i32) -> Vec<u8> {
    let mut b = vec![1u8];
    b.extend_from_slice(&(20i64 << 20).to_le_bytes());
    b.push(1);
    b.extend_from_slice(&glz_window_pixels.to_le_bytes());
    b
}

/// Reads until `stop` is set, keeping every DRAW_COPY.
fn record(display: &mut Channel, stop: &AtomicBool, out: &mut Vec<Drawn>) -> Result<(), String> {
    while !stop.load(Ordering::Relaxed) {
        match display.recv(Duration::from_millis(100)) {
            Ok((MSG_DISPLAY_DRAW_COPY, body)) => out.push(drawn(&body)?),
            Ok(_) | Err(ClientError::Timeout(_)) => {}
            Err(e) => return Err(format!("display channel after {} draws: {e}", out.len())),
        }
    }
    Ok(())
}

/// What a DRAW_COPY body carries, parsed by `spicebox_protocol`.
fn drawn(body: &[u8]) -> Result<Drawn, String> {
    let draw = spicebox_protocol::display::parse_draw_copy(body)
        .map_err(|e| format!("unparsable DRAW_COPY: {e}"))?;
    let image = &draw.image;
    let glz = match (&image.payload, image.image_type) {
        (ImagePayload::Binary { data }, IMAGE_TYPE_GLZ_RGB) => glz_header(data),
        _ => None,
    };
    Ok(Drawn {
        image_type: image.image_type,
        width: image.width,
        height: image.height,
        bytes: body.len(),
        glz,
    })
}

/// Image id and `win_head_dist` of a GLZ stream: after magic, version,
/// type byte, width, height and stride, big-endian.
fn glz_header(data: &[u8]) -> Option<(u64, u32)> {
    let id = u64::from_be_bytes(data.get(21..29)?.try_into().ok()?);
    let dist = u32::from_be_bytes(data.get(29..33)?.try_into().ok()?);
    Some((id, dist))
}

// ---------------------------------------------------------------------------
// Finding a picture in a capture

/// The `size` area of `image` at `at`, if it lies inside.
pub fn crop(image: &Image, at: (u32, u32), size: (u32, u32)) -> Option<Image> {
    let (x, y) = at;
    let (w, h) = size;
    if x.checked_add(w)? > image.width || y.checked_add(h)? > image.height {
        return None;
    }
    let mut rgb = Vec::with_capacity(w as usize * h as usize * 3);
    for row in y..y + h {
        let start = (row as usize * image.width as usize + x as usize) * 3;
        rgb.extend_from_slice(image.rgb.get(start..start + w as usize * 3)?);
    }
    Some(Image {
        width: w,
        height: h,
        rgb,
    })
}

/// `len` pixels of row `y` from column `x` of a `width`-wide picture.
fn row(img: &Image, width: usize, x: usize, y: usize, len: usize) -> Option<&[u8]> {
    let start = (y * width + x) * 3;
    img.rgb.get(start..start + len * 3)
}

/// Where `expected` appears, pixel for pixel, in `capture`: candidates are
/// the places where its first row appears, each then checked whole. The
/// error says how close the best candidate came.
pub fn find_exact(capture: &Image, expected: &Image) -> Result<(u32, u32), String> {
    let (cw, ch) = (capture.width as usize, capture.height as usize);
    let (ew, eh) = (expected.width as usize, expected.height as usize);
    if ew == 0 || eh == 0 || ew > cw || eh > ch {
        return Err(format!(
            "a {ew}x{eh} picture cannot be found in a {cw}x{ch} capture"
        ));
    }
    let first = row(expected, ew, 0, 0, ew);
    // (rows matching from the top, x, y) of the best candidate.
    let mut best: Option<(usize, usize, usize)> = None;
    let mut candidates = 0usize;
    for y in 0..=ch - eh {
        for x in 0..=cw - ew {
            if row(capture, cw, x, y, ew) != first {
                continue;
            }
            candidates += 1;
            let matching = (0..eh)
                .take_while(|&r| row(capture, cw, x, y + r, ew) == row(expected, ew, 0, r, ew))
                .count();
            if matching == eh {
                return Ok((x as u32, y as u32));
            }
            match best {
                Some((m, _, _)) if m >= matching => {}
                _ => best = Some((matching, x, y)),
            }
        }
    }
    Err(match best {
        None => format!(
            "the first row of the {ew}x{eh} picture appears nowhere in the {cw}x{ch} capture"
        ),
        Some((matching, x, y)) => {
            let shown = crop(capture, (x as u32, y as u32), (ew as u32, eh as u32));
            let detail = shown
                .map(|s| diff(expected, &s).to_string())
                .unwrap_or_default();
            format!(
                "{candidates} places start with the picture's first row; the best, at \
                 ({x},{y}), matches {matching} of {eh} rows: {detail}"
            )
        }
    })
}

// ---------------------------------------------------------------------------
// XWD files

/// Why an XWD file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XwdError {
    /// Fewer bytes than the part being read needs.
    #[error("XWD file truncated: {what} needs {need} bytes, {have} present")]
    Truncated {
        /// The part being read.
        what: &'static str,
        /// Bytes it needs (from the start of the file).
        need: usize,
        /// Bytes in the file.
        have: usize,
    },
    /// A header field this reader does not handle.
    #[error("unsupported XWD {field} {value}")]
    Unsupported {
        /// The header field.
        field: &'static str,
        /// Its value.
        value: u32,
    },
}

/// The XWD header fields used here (X11 `XWDFileHeader`, version 7).
struct XwdHeader {
    header_size: u32,
    width: u32,
    height: u32,
    lsb_first: bool,
    bits_per_pixel: u32,
    bytes_per_line: u32,
    direct_colour: bool,
    masks: [u32; 3],
    ncolors: u32,
}

const XWD_VERSION: u32 = 7;
const ZPIXMAP: u32 = 2;
const TRUE_COLOR: u32 = 4;
const DIRECT_COLOR: u32 = 5;
/// Size of one colour entry: u32 pixel, 3 x u16 RGB, u8 flags, u8 pad.
const XWD_COLOR_SIZE: usize = 12;

fn be32(data: &[u8], field: usize) -> Result<u32, XwdError> {
    let at = field * 4;
    data.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(XwdError::Truncated {
            what: "header",
            need: at + 4,
            have: data.len(),
        })
}

fn unsupported(field: &'static str, value: u32) -> XwdError {
    XwdError::Unsupported { field, value }
}

impl XwdHeader {
    /// Reads and checks the 25 big-endian header words.
    fn parse(data: &[u8]) -> Result<XwdHeader, XwdError> {
        let f = |i| be32(data, i);
        let h = XwdHeader {
            header_size: f(0)?,
            width: f(4)?,
            height: f(5)?,
            lsb_first: f(7)? == 0,
            bits_per_pixel: f(11)?,
            bytes_per_line: f(12)?,
            direct_colour: f(13)? == DIRECT_COLOR,
            masks: [f(14)?, f(15)?, f(16)?],
            ncolors: f(19)?,
        };
        if f(1)? != XWD_VERSION {
            return Err(unsupported("file version", f(1)?));
        }
        if f(2)? != ZPIXMAP {
            return Err(unsupported("pixmap format", f(2)?));
        }
        if f(7)? > 1 {
            return Err(unsupported("byte order", f(7)?));
        }
        if !matches!(f(13)?, TRUE_COLOR | DIRECT_COLOR) {
            return Err(unsupported("visual class", f(13)?));
        }
        if !matches!(h.bits_per_pixel, 24 | 32) {
            return Err(unsupported("bits per pixel", h.bits_per_pixel));
        }
        if h.width == 0 || h.width > MAX_DIMENSION {
            return Err(unsupported("width", h.width));
        }
        if h.height == 0 || h.height > MAX_DIMENSION {
            return Err(unsupported("height", h.height));
        }
        if u64::from(h.bytes_per_line) < u64::from(h.width) * u64::from(h.bits_per_pixel / 8) {
            return Err(unsupported("bytes per line", h.bytes_per_line));
        }
        for (mask, name) in h.masks.iter().zip(["red mask", "green mask", "blue mask"]) {
            if mask.count_ones() != 8 || mask >> mask.trailing_zeros() != 0xff {
                return Err(unsupported(name, *mask));
            }
        }
        if h.header_size < 100 || h.ncolors > 65536 {
            return Err(unsupported(
                "header size or colour count",
                h.header_size.max(h.ncolors),
            ));
        }
        Ok(h)
    }

    fn bytes_per_pixel(&self) -> usize {
        self.bits_per_pixel as usize / 8
    }
}

/// Per-channel lookup tables: identity for TrueColor, the colour map for
/// DirectColor (where each channel's bits index the map).
fn channel_tables(h: &XwdHeader, colours: &[u8]) -> [[u8; 256]; 3] {
    let mut tables = [[0u8; 256]; 3];
    for t in tables.iter_mut() {
        for (i, v) in t.iter_mut().enumerate() {
            *v = i as u8;
        }
    }
    if !h.direct_colour {
        return tables;
    }
    for entry in colours.chunks_exact(XWD_COLOR_SIZE) {
        let pixel = u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]);
        for (c, t) in tables.iter_mut().enumerate() {
            let mask = h.masks[c];
            let index = ((pixel & mask) >> mask.trailing_zeros()) as usize;
            // 16-bit intensity; the high byte is the 8-bit value.
            t[index & 0xff] = entry[4 + 2 * c];
        }
    }
    tables
}

/// Decodes an XWD file as `xwd` writes it for a 24-bit TrueColor or
/// DirectColor screen (ZPixmap, 24 or 32 bits per pixel, either byte
/// order). Every size is checked against the file before it is used.
pub fn parse_xwd(data: &[u8]) -> Result<Image, XwdError> {
    let h = XwdHeader::parse(data)?;
    let colours_at = h.header_size as usize;
    let pixels_at = colours_at + h.ncolors as usize * XWD_COLOR_SIZE;
    let stride = h.bytes_per_line as usize;
    let need =
        pixels_at + stride * (h.height as usize - 1) + h.width as usize * h.bytes_per_pixel();
    if data.len() < need {
        return Err(XwdError::Truncated {
            what: "pixel data",
            need,
            have: data.len(),
        });
    }
    let tables = channel_tables(&h, &data[colours_at..pixels_at]);
    let bpp = h.bytes_per_pixel();
    let mut rgb = Vec::with_capacity(h.width as usize * h.height as usize * 3);
    for y in 0..h.height as usize {
        let start = pixels_at + y * stride;
        let line = &data[start..start + h.width as usize * bpp];
        for px in line.chunks_exact(bpp) {
            let value = pixel_value(px, h.lsb_first);
            for (c, t) in tables.iter().enumerate() {
                let mask = h.masks[c];
                rgb.push(t[((value & mask) >> mask.trailing_zeros()) as usize & 0xff]);
            }
        }
    }
    Ok(Image {
        width: h.width,
        height: h.height,
        rgb,
    })
}

/// The pixel value of 3 or 4 bytes in the file's byte order.
fn pixel_value(bytes: &[u8], lsb_first: bool) -> u32 {
    let fold = |acc: u32, b: &u8| acc << 8 | u32::from(*b);
    if lsb_first {
        bytes.iter().rev().fold(0, fold)
    } else {
        bytes.iter().fold(0, fold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An XWD file as xwd writes it: header, name, colour map, pixels.
    fn xwd(width: u32, height: u32, bpp: u32, lsb: bool, pixels: &[u32], class: u32) -> Vec<u8> {
        let bytes = bpp as usize / 8;
        let stride = width as usize * 4; // xwd pads rows like this on Xvfb
        let name = b"xwdump\0";
        let header_size = 100 + name.len() as u32;
        let ncolors = 256u32;
        let fields = [
            header_size,
            7,
            2,
            24,
            width,
            height,
            0,
            u32::from(!lsb),
            32,
            0,
            8,
            bpp,
            stride as u32,
            class,
            0xff0000,
            0xff00,
            0xff,
            8,
            256,
            ncolors,
            width,
            height,
            0,
            0,
            0,
        ];
        let mut out: Vec<u8> = fields.iter().flat_map(|f| f.to_be_bytes()).collect();
        out.extend_from_slice(name);
        for i in 0..ncolors {
            out.extend_from_slice(&(i << 16 | i << 8 | i).to_be_bytes());
            for _ in 0..3 {
                out.extend_from_slice(&((i * 257) as u16).to_be_bytes());
            }
            out.extend_from_slice(&[7, 0]);
        }
        for row in pixels.chunks(width as usize) {
            let mut line = Vec::new();
            for p in row {
                let b = p.to_le_bytes();
                if lsb {
                    line.extend_from_slice(&b[..bytes]);
                } else {
                    line.extend(b[..bytes].iter().rev());
                }
            }
            line.resize(stride, 0);
            out.extend_from_slice(&line);
        }
        out
    }

    #[test]
    fn xwd_files_of_every_supported_layout_decode() {
        let pixels = [
            0x0011_2233,
            0x00ff_0080,
            0x0000_0001,
            0x00ab_cdef,
            0x0001_0203,
            0,
        ];
        let want: Vec<u8> = pixels
            .iter()
            .flat_map(|p| [(p >> 16) as u8, (p >> 8) as u8, *p as u8])
            .collect();
        for bpp in [24, 32] {
            for lsb in [true, false] {
                for class in [TRUE_COLOR, DIRECT_COLOR] {
                    let img = parse_xwd(&xwd(3, 2, bpp, lsb, &pixels, class)).expect("decodes");
                    assert_eq!((img.width, img.height), (3, 2));
                    assert_eq!(img.rgb, want, "bpp {bpp} lsb {lsb} class {class}");
                }
            }
        }
    }

    #[test]
    fn bad_xwd_files_are_refused_clearly() {
        let good = xwd(3, 2, 32, true, &[0; 6], TRUE_COLOR);
        assert!(matches!(
            parse_xwd(&good[..50]),
            Err(XwdError::Truncated { .. })
        ));
        assert!(matches!(
            parse_xwd(&good[..good.len() - 1]),
            Err(XwdError::Truncated {
                what: "pixel data",
                ..
            })
        ));
        let with = |field: usize, value: u32| {
            let mut d = good.clone();
            d[field * 4..field * 4 + 4].copy_from_slice(&value.to_be_bytes());
            parse_xwd(&d)
        };
        let err = with(2, 1).expect_err("XYPixmap");
        assert_eq!(err.to_string(), "unsupported XWD pixmap format 1");
        assert!(with(11, 16).is_err(), "16 bits per pixel");
        assert!(with(4, 0).is_err(), "zero width");
        assert!(with(4, 99_999).is_err(), "huge width");
        assert!(with(12, 4).is_err(), "rows shorter than the width");
        assert!(with(13, 3).is_err(), "PseudoColor");
        assert!(with(14, 0x00ff_0f00).is_err(), "odd mask");
    }

    fn image(width: u32, height: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Image {
        let mut rgb = Vec::new();
        for y in 0..height {
            for x in 0..width {
                rgb.extend_from_slice(&f(x, y));
            }
        }
        Image { width, height, rgb }
    }

    #[test]
    fn find_exact_locates_a_picture_and_explains_near_misses() {
        let big = image(40, 30, |x, y| {
            [(x * 7) as u8, (y * 5) as u8, ((x + y) % 3) as u8]
        });
        let part = crop(&big, (11, 7), (9, 6)).expect("inside");
        assert_eq!(find_exact(&big, &part), Ok((11, 7)));
        // A picture whose first row repeats everywhere: the full check decides.
        let flat = image(40, 30, |_, y| if y == 20 { [1, 2, 3] } else { [0, 0, 0] });
        let target = crop(&flat, (5, 15), (10, 6)).expect("inside");
        assert_eq!(find_exact(&flat, &target), Ok((0, 15)));
        let mut wrong = target.clone();
        wrong.rgb[(5 * 10 + 4) * 3] = 9;
        let err = find_exact(&flat, &wrong).expect_err("no exact place");
        assert!(err.contains("matches 5 of 6 rows"), "{err}");
        assert!(err.contains("the best, at (0,0)"), "{err}");
        assert!(find_exact(&part, &big).is_err());
        assert!(crop(&big, (35, 0), (9, 1)).is_none());
    }
}
