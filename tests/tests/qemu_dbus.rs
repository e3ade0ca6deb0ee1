//! `--source qemu-dbus:ADDRESS`: spicebox in front of a real QEMU VM.
//!
//! The test boots a tiny Linux guest (built once by `tests/guest/build.sh`
//! from Debian's kernel and busybox-static, cached under
//! `target/test-guest/`) in qemu-system-x86_64 under TCG, with `-vga std`
//! and `-display dbus` on a private dbus-daemon, and spicebox serving it.
//! spicebox starts first, so it also has to find the VM once it appears.
//! Then:
//!
//! * the real `spicy-screenshot` equals QEMU's own `screendump` (QMP)
//!   pixel for pixel;
//! * a command typed through the Rust test client's inputs channel runs
//!   on the guest's screen console and writes to the serial port, which
//!   the test reads;
//! * killing QEMU leaves spicebox (supervisor and host) running, with
//!   one logged error and the "gone" picture on the client.
//!
//! A second test runs QEMU in peer-to-peer mode (`-display dbus,p2p=yes`,
//! no bus) with two heads (`-vga std -device secondary-vga`) and spicebox
//! reaching it through a QMP socket (`--source qemu-dbus:qmp=PATH`) with
//! `--displays 2` and `--on-host-exit end`: each display's picture equals
//! QEMU's screendump of its head, and killing QEMU ends the client's
//! connections (the "gone" picture last) and spicebox, with status 0.
//!
//! A third test serves a two-head VM on a bus with `--displays 3`: the
//! Rust test client's display channel k equals QEMU's screendump of head
//! k (QMP `screendump` with `device` naming the secondary-vga), and so
//! does `ctl screendump --display k`; display 2, which the VM has no head
//! for, says so; when QEMU is killed, every display shows it gone.
//! A fourth test gives a VM on a bus an AC97 sound card on `-audiodev
//! dbus` at 48 kHz: QEMU opens the card's output voice at reset, so
//! without any guest playback `ctl status` shows the stream with the
//! format QEMU announced (disabled, nothing received). The same VM has
//! two D-Bus chardevs, the agent's virtio-serial port and a usb-redir
//! device: `ctl status` lists both with their guest side (the guest has
//! no virtio-serial driver; usb-redir is open from the start). When QEMU
//! is killed, the stream and the chardevs are gone from the status.
//! The tests take turns: two VMs under TCG at once would starve each
//! other on a small machine.
//!
//! Every wait is bounded; dbus-daemon, QEMU and spicebox are stopped by
//! their own PIDs when the test ends.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use spicebox_tests::client::{
    consts::*, key_body, wait_full_draw, Channel, ClientError, ClientSurface, Session,
};
use spicebox_tests::ending::{follow_until_closed, Ending, END_TIMEOUT};
use spicebox_tests::harness::{
    run_with_timeout, spicy_screenshot, target_dir, workspace_dir, Server, TempDir,
};
use spicebox_tests::image::{assert_same_image, diff, Image};

/// How long building the guest may take (two downloads, one unpack).
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the guest may take to boot (about 6 s on the test machine).
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the client's picture may take to settle on QEMU's.
const PICTURE_TIMEOUT: Duration = Duration::from_secs(40);
/// How long typed keys may take to run in the guest.
const TYPED_TIMEOUT: Duration = Duration::from_secs(30);
/// The "gone" picture's background, as the client decodes it.
const GONE_RGB: [u8; 3] = [0x1c, 0x20, 0x26];
/// What the typed command prints: computed by the guest's shell, so the
/// characters echoed while typing never match it.
const TYPED: &str = "echo TYPED-$((6*7)) > /dev/ttyS0\n";
const TYPED_OUTPUT: &str = "TYPED-42";
/// What the guest's init prints to the serial port when it is up.
const BOOTED: &str = "GUEST-BOOTED-42";
/// What the shell on the guest's screen prints there when it reads.
const SHELL: &str = "GUEST-SHELL-42";
/// Pause after each key event sent.
const KEY_PACE: Duration = Duration::from_millis(15);
/// Typing attempts: the first may race the shell's terminal set-up.
const TYPING_ATTEMPTS: u32 = 3;
/// The QEMU id of the second head's device (`-device secondary-vga`),
/// which QMP `screendump` takes as `device` to picture that head.
const SECOND_HEAD: &str = "head1";
/// Display messages read at most while waiting for a first full picture.
const MAX_FIRST_MESSAGES: usize = 10_000;
/// How long a display channel must stay silent before its picture is
/// compared with QEMU's.
const QUIET: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------------------
// The guest

/// `target/test-guest/{vmlinuz,initrd.gz}`, built when missing or when
/// the builder script changed since.
fn guest() -> (PathBuf, PathBuf) {
    let script = workspace_dir().join("tests/guest/build.sh");
    let dir = target_dir().join("test-guest");
    let (kernel, initrd) = (dir.join("vmlinuz"), dir.join("initrd.gz"));
    let stamp = dir.join("build.sh.used");
    let wanted = std::fs::read(&script).expect("tests/guest/build.sh");
    let fresh = kernel.is_file()
        && initrd.is_file()
        && std::fs::read(&stamp).is_ok_and(|used| used == wanted);
    if !fresh {
        let out = run_with_timeout(Command::new("bash").arg(&script).arg(&dir), BUILD_TIMEOUT)
            .expect("running tests/guest/build.sh");
        assert!(
            out.success(),
            "tests/guest/build.sh failed (it needs apt-get with Debian's \
             package lists: apt-get update): {}",
            out.describe()
        );
        std::fs::write(&stamp, &wanted).expect("guest stamp");
    }
    (kernel, initrd)
}

// ---------------------------------------------------------------------------
// Processes

/// A child process killed (by its PID) and reaped on drop.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, log: &Path) -> Proc {
        let log = std::fs::File::create(log).expect("log file");
        let err = log.try_clone().expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} (scripts/test.sh installs it): {e}"));
        Proc { name, child }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn assert_running(&mut self, log: &Path) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{} exited ({status}): {text}", self.name);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A private dbus-daemon, configured the way libvirt configures its
/// per-VM bus: anyone on the machine's user may talk to anyone.
fn start_bus(dir: &Path) -> (Proc, String) {
    let socket = dir.join("bus.sock");
    let config = dir.join("bus.conf");
    std::fs::write(
        &config,
        format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
            socket.display()
        ),
    )
    .expect("bus config");
    let mut bus = Proc::spawn(
        "dbus-daemon",
        Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .arg("--nofork"),
        &dir.join("dbus.log"),
    );
    wait_until("the bus socket", Duration::from_secs(10), || {
        socket.exists()
    });
    bus.assert_running(&dir.join("dbus.log"));
    (bus, format!("unix:path={}", socket.display()))
}

/// Held by each test while its VM runs.
static ONE_VM_AT_A_TIME: Mutex<()> = Mutex::new(());

/// QEMU booting the guest with `-display DISPLAY` and a QMP socket at
/// `dir/qmp.sock` (for the test), plus one at each of `more_qmp`; with
/// `second_head`, a second graphic console (`secondary-vga`, id
/// [`SECOND_HEAD`]); `devices` are further arguments (sound).
fn start_qemu(
    dir: &Path,
    display: &str,
    more_qmp: &[&Path],
    second_head: bool,
    devices: &[&str],
    (kernel, initrd): &(PathBuf, PathBuf),
) -> Proc {
    let _ = std::fs::remove_file(dir.join("serial.log"));
    let mut cmd = Command::new("qemu-system-x86_64");
    for socket in more_qmp {
        cmd.arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", socket.display()));
    }
    if second_head {
        cmd.args(["-device", &format!("secondary-vga,id={SECOND_HEAD}")]);
    }
    cmd.args(devices);
    Proc::spawn(
        "qemu-system-x86_64",
        cmd.args(["-accel", "tcg", "-m", "256", "-nodefaults", "-vga", "std"])
            .args(["-display", display])
            .arg("-kernel")
            .arg(kernel)
            .arg("-initrd")
            .arg(initrd)
            // No blinking cursor: the screen holds still between QEMU's
            // screendump and the client's screenshot.
            .args([
                "-append",
                "console=ttyS0 console=tty0 quiet vt.global_cursor_default=0",
            ])
            .arg("-serial")
            .arg(format!("file:{}", dir.join("serial.log").display()))
            .arg("-qmp")
            .arg(format!(
                "unix:{},server=on,wait=off",
                dir.join("qmp.sock").display()
            ))
            .args(["-monitor", "none", "-no-reboot"]),
        &dir.join("qemu.log"),
    )
}

/// Waits (at most [`BOOT_TIMEOUT`] from `started`) for the guest's
/// boot marker on the serial port.
fn wait_booted(dir: &Path, qemu: &mut Proc, started: Instant) {
    let deadline = started + BOOT_TIMEOUT;
    while !serial(dir).contains(BOOTED) {
        qemu.assert_running(&dir.join("qemu.log"));
        assert!(
            Instant::now() < deadline,
            "the guest did not boot within {BOOT_TIMEOUT:?}; serial: {}",
            serial(dir)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "qemu_dbus: the guest booted {:.1} s after QEMU started (spicebox attached)",
        started.elapsed().as_secs_f64()
    );
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn serial(dir: &Path) -> String {
    let bytes = std::fs::read(dir.join("serial.log")).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

// ---------------------------------------------------------------------------
// QMP

/// A QMP session on QEMU's control socket.
struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    fn connect(socket: &Path) -> Qmp {
        let mut last = String::new();
        for _ in 0..100 {
            match UnixStream::connect(socket) {
                Ok(stream) => {
                    stream
                        .set_read_timeout(Some(Duration::from_secs(30)))
                        .expect("timeout");
                    let writer = stream.try_clone().expect("clone");
                    let mut qmp = Qmp {
                        reader: BufReader::new(stream),
                        writer,
                    };
                    qmp.line(); // the greeting
                    qmp.execute(r#"{"execute":"qmp_capabilities"}"#);
                    return qmp;
                }
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("QMP socket {}: {last}", socket.display());
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("QMP read");
        assert!(!line.is_empty(), "QMP closed");
        line
    }

    /// Sends a command; its `return` line (events before it skipped).
    fn execute(&mut self, command: &str) -> String {
        writeln!(self.writer, "{command}").expect("QMP write");
        loop {
            let line = self.line();
            if line.contains("\"return\"") {
                return line;
            }
            assert!(!line.contains("\"error\""), "QMP {command}: {line}");
        }
    }

    /// QEMU's own picture of the head of `device` (a QEMU device id), or
    /// of the first head.
    fn screendump_of(&mut self, device: Option<&str>, path: &Path) -> Image {
        let mut arguments = serde_json::json!({ "filename": path });
        if let Some(device) = device {
            arguments["device"] = device.into();
        }
        let command = serde_json::json!({
            "execute": "screendump",
            "arguments": arguments,
        });
        self.execute(&command.to_string());
        Image::read_ppm(path).unwrap_or_else(|e| panic!("QEMU's screendump: {e}"))
    }
}

// ---------------------------------------------------------------------------
// Checks

/// Takes spicy-screenshots until one equals QEMU's screendump taken just
/// before or just after it (the guest may change between the two); fails
/// with the last difference after [`PICTURE_TIMEOUT`].
fn client_shows_the_guest(label: &str, port: u16, qmp: &mut Qmp, dir: &Path) -> Image {
    matches_a_screendump(label, qmp, None, dir, |_| {
        spicy_screenshot(port, None).unwrap_or_else(|e| panic!("{label}: spicy-screenshot: {e}"))
    })
}

/// Takes `shot` between two of QEMU's screendumps of `device`'s head (or
/// the first head) until it equals one of them (the guest may change
/// between the two), pausing between tries; fails with the last
/// difference after [`PICTURE_TIMEOUT`]. `shot` gets the deadline.
fn matches_a_screendump(
    label: &str,
    qmp: &mut Qmp,
    device: Option<&str>,
    dir: &Path,
    mut shot: impl FnMut(Instant) -> Image,
) -> Image {
    let deadline = Instant::now() + PICTURE_TIMEOUT;
    loop {
        let before = qmp.screendump_of(device, &dir.join("before.ppm"));
        let shot = shot(deadline);
        let after = qmp.screendump_of(device, &dir.join("after.ppm"));
        for dump in [&before, &after] {
            if diff(dump, &shot).is_equal() {
                return shot;
            }
        }
        if Instant::now() >= deadline {
            assert_same_image(label, &after, &shot);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The Rust test client on display channel `display`: follows it until
/// its picture equals QEMU's screendump of `device`'s head (or the first
/// head) taken just before or just after the client's channel went
/// quiet; fails with the last difference after [`PICTURE_TIMEOUT`].
fn display_shows_the_head(
    label: &str,
    session: &Session,
    display: u8,
    device: Option<&str>,
    qmp: &mut Qmp,
    dir: &Path,
) -> Image {
    let mut channel = session
        .open_display(display)
        .unwrap_or_else(|e| panic!("{label}: display channel {display}: {e}"));
    let mut surface = ClientSurface::default();
    wait_full_draw(
        &mut channel,
        &mut surface,
        PICTURE_TIMEOUT,
        MAX_FIRST_MESSAGES,
    )
    .unwrap_or_else(|e| panic!("{label}: no first picture: {e}"));
    matches_a_screendump(label, qmp, device, dir, |deadline| {
        follow_until_quiet(&mut channel, &mut surface, deadline)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        surface
            .image()
            .unwrap_or_else(|| panic!("{label}: no picture on display {display}"))
    })
}

/// Applies display messages to `surface` until none came for [`QUIET`],
/// or until `deadline`.
fn follow_until_quiet(
    channel: &mut Channel,
    surface: &mut ClientSurface,
    deadline: Instant,
) -> Result<(), String> {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(());
        }
        match channel.recv((deadline - now).min(QUIET)) {
            Ok((t, body)) => {
                surface
                    .apply(t, &body)
                    .map_err(|e| format!("display message {t}: {e}"))?;
            }
            Err(ClientError::Timeout(_)) => return Ok(()),
            Err(e) => return Err(format!("display channel: {e}")),
        }
    }
}

/// Set-1 scancode of `c` and whether it needs Shift (US layout).
fn scancode(c: char) -> (u32, bool) {
    const LETTERS: &[u8; 26] = &[
        0x1e, 0x30, 0x2e, 0x20, 0x12, 0x21, 0x22, 0x23, 0x17, 0x24, 0x25, 0x26, 0x32, 0x31, 0x18,
        0x19, 0x10, 0x13, 0x1f, 0x14, 0x16, 0x2f, 0x11, 0x2d, 0x15, 0x2c,
    ];
    match c {
        'a'..='z' => (u32::from(LETTERS[c as usize - 'a' as usize]), false),
        'A'..='Z' => (u32::from(LETTERS[c as usize - 'A' as usize]), true),
        '1'..='9' => (c as u32 - '1' as u32 + 0x02, false),
        '0' => (0x0b, false),
        ' ' => (0x39, false),
        '-' => (0x0c, false),
        '/' => (0x35, false),
        '\n' => (0x1c, false),
        '$' => (0x05, true),
        '*' => (0x09, true),
        '(' => (0x0a, true),
        ')' => (0x0b, true),
        '>' => (0x34, true),
        _ => panic!("no scancode for {c:?} in this test"),
    }
}

/// Types `text` through the inputs channel, one press and release per
/// key, Shift around the characters that need it.
fn type_text(server: &Server, text: &str) -> (Session, Channel) {
    const SHIFT: u32 = 0x2a;
    let session = Session::connect(server.addr(), "").expect("session");
    let mut inputs = session.open_inputs().expect("inputs channel");
    inputs
        .recv_type(MSG_INPUTS_INIT, Duration::from_secs(10))
        .expect("INPUTS_INIT");
    let mut key = |code: u32, down: bool| {
        let (msg, wire) = if down {
            (MSGC_INPUTS_KEY_DOWN, code)
        } else {
            (MSGC_INPUTS_KEY_UP, code | 0x80)
        };
        inputs.send(msg, &key_body(wire)).expect("key");
        // At a typist's pace: QEMU drops PS/2 bytes that arrive faster
        // than the (emulated) guest reads its 16-byte queue.
        std::thread::sleep(KEY_PACE);
    };
    for c in text.chars() {
        let (code, shift) = scancode(c);
        if shift {
            key(SHIFT, true);
        }
        key(code, true);
        key(code, false);
        if shift {
            key(SHIFT, false);
        }
    }
    (session, inputs)
}

fn gone_share(image: &Image) -> f64 {
    let gone = image.rgb.chunks_exact(3).filter(|p| *p == GONE_RGB).count();
    gone as f64 / (f64::from(image.width) * f64::from(image.height)).max(1.0)
}

// ---------------------------------------------------------------------------
// The tests

#[test]
fn spicebox_serves_a_qemu_vm_over_dbus() {
    let guest = guest();
    let _turn = ONE_VM_AT_A_TIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let dir = TempDir::new("spicebox-qemu").expect("temp dir");
    let dir = dir.path();
    let (_bus, address) = start_bus(dir);
    let source = format!("qemu-dbus:{address}");
    let mut server = Server::start(&["--disable-ticketing", "--source", &source]);

    let started = Instant::now();
    let mut qemu = start_qemu(
        dir,
        &format!("dbus,addr={address}"),
        &[],
        false,
        &[],
        &guest,
    );
    wait_booted(dir, &mut qemu, started);

    // The picture: exactly what QEMU itself shows.
    let mut qmp = Qmp::connect(&dir.join("qmp.sock"));
    let booted = client_shows_the_guest("qemu-booted", server.port(), &mut qmp, dir);
    assert!(
        booted.rgb.chunks_exact(3).any(|p| p != [0, 0, 0]),
        "the guest's console is black"
    );

    // Keys: typed on the screen's console, the command writes to serial.
    wait_until("the guest's shell", BOOT_TIMEOUT, || {
        serial(dir).contains(SHELL)
    });
    let mut typed = None;
    for attempt in 1..=TYPING_ATTEMPTS {
        let typed_at = Instant::now();
        let (session, inputs) = type_text(&server, TYPED);
        let deadline = typed_at + TYPED_TIMEOUT / TYPING_ATTEMPTS;
        while !serial(dir).contains(TYPED_OUTPUT) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if serial(dir).contains(TYPED_OUTPUT) {
            eprintln!(
                "qemu_dbus: typed command ran {:.1} s after typing began (attempt {attempt})",
                typed_at.elapsed().as_secs_f64()
            );
            typed = Some((session, inputs));
            break;
        }
    }
    let Some((session, _inputs)) = typed else {
        panic!(
            "the typed command never ran ({TYPING_ATTEMPTS} attempts); serial: {}",
            serial(dir)
        );
    };
    let after_typing = client_shows_the_guest("qemu-after-typing", server.port(), &mut qmp, dir);
    assert!(
        !diff(&booted, &after_typing).is_equal(),
        "the typed command did not change the screen"
    );

    // QEMU goes: spicebox stays, the client is told.
    drop(qmp);
    qemu.kill();
    let deadline = Instant::now() + PICTURE_TIMEOUT;
    loop {
        let shot = spicy_screenshot(server.port(), None)
            .unwrap_or_else(|e| panic!("after QEMU died: spicy-screenshot: {e}"));
        if gone_share(&shot) > 0.95 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no 'gone' picture within {PICTURE_TIMEOUT:?} of QEMU's death \
             ({:.0} % of it)",
            gone_share(&shot) * 100.0
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(server.is_running(), "spicebox exited with QEMU");
    let status = server.ctl_status();
    let host = status["host"]["pid"].as_u64().unwrap_or(0);
    assert!(
        host != 0 && Path::new(&format!("/proc/{host}")).exists(),
        "the host process is gone"
    );
    assert!(
        status["sessions"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["id"] == session.session_id)),
        "the session open before QEMU died was closed"
    );
    let lost = server.log_lines_with("lost the QEMU VM");
    assert_eq!(lost.len(), 1, "expected one error line, got {lost:?}");
}

#[test]
fn spicebox_serves_a_p2p_vm_through_qmp_and_ends_when_it_goes() {
    let guest = guest();
    let _turn = ONE_VM_AT_A_TIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let dir = TempDir::new("spicebox-qemu-p2p").expect("temp dir");
    let dir = dir.path();
    // spicebox's own QMP socket: QEMU serves one client per socket, and
    // the test keeps `qmp.sock` for its screendumps.
    let spicebox_qmp = dir.join("spicebox-qmp.sock");
    let started = Instant::now();
    let mut qemu = start_qemu(dir, "dbus,p2p=yes", &[&spicebox_qmp], true, &[], &guest);
    wait_until("QEMU's QMP socket", Duration::from_secs(30), || {
        spicebox_qmp.exists()
    });
    let source = format!("qemu-dbus:qmp={}", spicebox_qmp.display());
    let mut spicebox = Ending::start(&source, &["--displays", "2"], dir);
    wait_booted(dir, &mut qemu, started);

    let mut qmp = Qmp::connect(&dir.join("qmp.sock"));
    let booted = client_shows_the_guest("qemu-p2p-booted", spicebox.port, &mut qmp, dir);
    assert!(
        booted.rgb.chunks_exact(3).any(|p| p != [0, 0, 0]),
        "the guest's console is black"
    );
    // The second head, through its own listener on the same peer-to-peer
    // connection.
    let heads = Session::connect(spicebox.addr(), "").expect("session");
    let second = display_shows_the_head(
        "qemu-p2p-second-head",
        &heads,
        1,
        Some(SECOND_HEAD),
        &mut qmp,
        dir,
    );
    assert_ne!(
        (second.width, second.height),
        (booted.width, booted.height),
        "display 1 shows the first head"
    );
    drop(heads);
    let served = spicebox
        .log_text()
        .lines()
        .filter(|l| l.contains("serving the QEMU VM") && l.contains("target=qmp="))
        .count();
    assert_eq!(
        served, 1,
        "spicebox did not say it serves the VM through QMP"
    );
    // QEMU 7.2 crashes when an audio listener registers peer to peer.
    assert!(
        spicebox
            .log_text()
            .contains("peer-to-peer mode: no audio listener is registered"),
        "spicebox did not say why it relays no audio in peer-to-peer mode"
    );

    // A client connected when QEMU goes: told by the picture, then closed.
    let mut session = Session::connect(spicebox.addr(), "").expect("session");
    let mut display = session.open_display(0).expect("display channel");
    let mut surface = ClientSurface::default();
    drop(qmp);
    let killed = Instant::now();
    qemu.kill();
    follow_until_closed(&mut display, &mut surface, END_TIMEOUT)
        .unwrap_or_else(|e| panic!("after QEMU died: {e}"));
    let last = surface.image().expect("a picture before the end");
    assert!(
        gone_share(&last) > 0.95,
        "the last picture was not the 'gone' one ({:.0} % of it)",
        gone_share(&last) * 100.0
    );
    spicebox.assert_ends_with_its_machine(&mut session.main, killed, "qemu p2p end");
}

#[test]
fn spicebox_shows_each_head_of_a_vm_on_its_own_display() {
    let guest = guest();
    let _turn = ONE_VM_AT_A_TIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let dir = TempDir::new("spicebox-qemu-heads").expect("temp dir");
    let dir = dir.path();
    let (_bus, address) = start_bus(dir);
    let source = format!("qemu-dbus:{address}");
    // One display more than the VM has heads.
    let server = Server::start(&[
        "--disable-ticketing",
        "--source",
        &source,
        "--displays",
        "3",
    ]);
    let started = Instant::now();
    let mut qemu = start_qemu(dir, &format!("dbus,addr={address}"), &[], true, &[], &guest);
    wait_booted(dir, &mut qemu, started);

    let mut qmp = Qmp::connect(&dir.join("qmp.sock"));
    let session = Session::connect(server.addr(), "").expect("session");
    let first = display_shows_the_head("qemu-head-0", &session, 0, None, &mut qmp, dir);
    let second =
        display_shows_the_head("qemu-head-1", &session, 1, Some(SECOND_HEAD), &mut qmp, dir);
    // The heads differ (the guest's console on the first, QEMU's own
    // "not initialized" picture on the second), so neither display can
    // pass by showing the other head.
    assert!(
        !diff(&first, &second).is_equal(),
        "both displays show the same picture"
    );
    assert!(
        first.rgb.chunks_exact(3).any(|p| p != [0, 0, 0]),
        "the guest's console is black"
    );
    // spicebox's own view of each display agrees.
    for (display, client) in [(0, &first), (1, &second)] {
        let deadline = Instant::now() + PICTURE_TIMEOUT;
        loop {
            let own = server.screendump_of(display);
            if diff(&own, client).is_equal() {
                break;
            }
            if Instant::now() >= deadline {
                assert_same_image(&format!("ctl-screendump-{display}"), client, &own);
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    // The third display has no head behind it, and says so in the
    // "gone" picture's colours, not as a VM that went away.
    let third = server.screendump_of(2);
    assert!(
        gone_share(&third) > 0.9,
        "display 2 does not show the no-console picture ({:.0} % of it)",
        gone_share(&third) * 100.0
    );
    let missing = server.log_lines_with("fewer graphic consoles than spicebox has displays");
    assert_eq!(
        missing.len(),
        1,
        "expected one line about display 2, got {missing:?}"
    );
    assert!(
        server.log_lines_with("lost the QEMU VM").is_empty(),
        "the VM was reported lost while served"
    );

    // QEMU goes: every display shows it gone, the one without a head too
    // (its picture changes), with one error logged.
    drop(qmp);
    qemu.kill();
    for display in 0..3 {
        let deadline = Instant::now() + PICTURE_TIMEOUT;
        loop {
            let shot = server.screendump_of(display);
            if gone_share(&shot) > 0.95 && !diff(&shot, &third).is_equal() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "display {display}: no 'gone' picture within {PICTURE_TIMEOUT:?} of QEMU's death \
                 ({:.0} % of it)",
                gone_share(&shot) * 100.0
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    let lost = server.log_lines_with("lost the QEMU VM");
    assert_eq!(lost.len(), 1, "expected one error line, got {lost:?}");
}

/// How long QEMU may take to announce its sound card's voice once the VM
/// is served (at reset, before the guest runs).
const AUDIO_TIMEOUT: Duration = Duration::from_secs(60);

/// The `audio.playback` streams of `ctl status`.
fn playback(server: &Server) -> Vec<serde_json::Value> {
    server.ctl_status()["audio"]["playback"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("ctl status has no audio.playback list"))
}

#[test]
fn spicebox_relays_a_vms_audio_and_lists_its_chardevs() {
    let guest = guest();
    let _turn = ONE_VM_AT_A_TIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let dir = TempDir::new("spicebox-qemu-audio").expect("temp dir");
    let dir = dir.path();
    let (_bus, address) = start_bus(dir);
    let source = format!("qemu-dbus:{address}");
    let server = Server::start(&["--disable-ticketing", "--source", &source]);
    assert_eq!(playback(&server), Vec::<serde_json::Value>::new());
    let started = Instant::now();
    // 48 kHz rather than the 44.1 kHz default: the status must show what
    // QEMU announced, not what spicebox might assume.
    let mut qemu = start_qemu(
        dir,
        &format!("dbus,addr={address},audiodev=snd0"),
        &[],
        false,
        &[
            "-audiodev",
            "dbus,id=snd0,out.frequency=48000",
            "-device",
            "AC97,audiodev=snd0",
            "-device",
            "virtio-serial",
            "-chardev",
            "dbus,id=vdagent0,name=org.spice-space.vdagent.0",
            "-device",
            "virtserialport,chardev=vdagent0,name=com.redhat.spice.0",
            "-device",
            "qemu-xhci",
            "-chardev",
            "dbus,id=usbredir0,name=org.spice-space.usbredir.0",
            "-device",
            "usb-redir,chardev=usbredir0",
        ],
        &guest,
    );
    let deadline = Instant::now() + AUDIO_TIMEOUT;
    let streams = loop {
        qemu.assert_running(&dir.join("qemu.log"));
        let streams = playback(&server);
        if !streams.is_empty() {
            break streams;
        }
        assert!(
            Instant::now() < deadline,
            "no audio stream in ctl status within {AUDIO_TIMEOUT:?}; log: {}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "qemu_dbus: the AC97 output stream showed up {:.1} s after QEMU started",
        started.elapsed().as_secs_f64()
    );
    // AC97 has one output voice (its PCM out); QEMU opens it at reset.
    assert_eq!(streams.len(), 1, "streams: {streams:?}");
    let stream = &streams[0];
    assert_eq!(
        stream["format"],
        serde_json::json!({
            "bits": 16,
            "signed": true,
            "float": false,
            "big_endian": false,
            "frequency": 48000,
            "channels": 2,
            "bytes_per_frame": 4,
            "bytes_per_second": 192000,
        }),
        "stream: {stream}"
    );
    // The guest plays nothing: the voice stays off and silent.
    assert_eq!(stream["enabled"], false, "stream: {stream}");
    assert_eq!(stream["bytes"], 0, "stream: {stream}");
    assert_eq!(server.ctl_status()["audio"]["rejected"], 0);
    assert_eq!(
        server
            .log_lines_with("relaying the VM's audio output")
            .len(),
        1,
        "the host did not say once that it relays the VM's audio"
    );

    // Listed in QEMU's object order (by id), not registered.
    assert_eq!(
        server.ctl_status()["chardevs"],
        serde_json::json!([
            { "name": "org.spice-space.usbredir.0", "guest_open": true },
            { "name": "org.spice-space.vdagent.0", "guest_open": false },
        ])
    );

    // QEMU goes, and its stream and chardevs with it.
    qemu.kill();
    wait_until("the stream to go with QEMU", PICTURE_TIMEOUT, || {
        playback(&server).is_empty()
    });
    wait_until("the chardevs to go with QEMU", PICTURE_TIMEOUT, || {
        server.ctl_status()["chardevs"] == serde_json::json!([])
    });
    // Whichever of the audio and display connections ends first, the
    // host's closing messages fit what the supervisor holds.
    assert_eq!(server.ctl_status()["audio"]["rejected"], 0);
    assert_eq!(server.log_lines_with("lost the QEMU VM").len(), 1);
    assert!(
        server
            .log_lines_with("the QEMU audio connection failed")
            .is_empty(),
        "the audio connection was reported failed"
    );
}
