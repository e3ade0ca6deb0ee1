//! systemd socket activation: spicebox serves on a listening socket it
//! inherits (LISTEN_FDS/LISTEN_PID) instead of binding its own.
//!
//! `systemd-socket-activate` (Debian package systemd) holds the socket and
//! starts spicebox on the first connection, exactly as a `.socket` unit does.
//! The `--port` given to spicebox is held busy by the test, so spicebox can
//! only succeed by using the inherited socket.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use spicebox_tests::harness::{
    assert_same_image, free_port, spicebox_bin, spicy_screenshot, TempDir,
};

#[test]
fn serves_on_an_inherited_socket() {
    let activate = which("systemd-socket-activate").expect(
        "systemd-socket-activate missing: install the systemd package (scripts/test.sh does)",
    );
    let dir = TempDir::new("spicebox-activation").expect("temp dir");
    let ctl = dir.path().join("ctl.sock");
    let log = std::fs::File::create(dir.path().join("spicebox.log")).expect("log");
    let busy = TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy_port = busy.local_addr().expect("addr").port();
    let port = free_port();

    let mut cmd = Command::new(activate);
    cmd.arg("-l")
        .arg(format!("127.0.0.1:{port}"))
        .arg(spicebox_bin())
        .args([
            "--disable-ticketing",
            "--demo-freeze",
            "--addr",
            "127.0.0.1",
        ])
        .arg("--port")
        .arg(busy_port.to_string())
        .arg("--control")
        .arg(&ctl)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    let staged = spicebox_sandbox::prepare_child(&mut cmd, Vec::new()).expect("prepare");
    let mut child = cmd.spawn().expect("spawn systemd-socket-activate");
    drop(staged);
    let guard = KillOnDrop(child.id());

    // Wait for the activator's socket, bounded.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "activator never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    // That probe connection started spicebox; it sees the probe close and
    // goes on serving.
    let shot = spicy_screenshot(port, None).unwrap_or_else(|e| {
        let log = std::fs::read_to_string(dir.path().join("spicebox.log")).unwrap_or_default();
        panic!("spicy-screenshot through the inherited socket failed: {e}\n{log}")
    });

    let deadline = Instant::now() + Duration::from_secs(10);
    while !ctl.exists() {
        assert!(Instant::now() < deadline, "control socket never appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    let dump_path = dir.path().join("dump.ppm");
    let out = Command::new(spicebox_bin())
        .args(["ctl", "--socket"])
        .arg(&ctl)
        .arg("screendump")
        .arg(&dump_path)
        .output()
        .expect("ctl");
    assert!(
        out.status.success(),
        "screendump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = spicebox_tests::image::Image::read_ppm(&dump_path).expect("read dump");
    assert_same_image("socket-activation", &dump, &shot);

    // The served socket is the inherited one: the busy --port stayed ours.
    drop(busy);
    let log = std::fs::read_to_string(dir.path().join("spicebox.log")).unwrap_or_default();
    assert!(
        log.contains(&format!("127.0.0.1:{port}")),
        "spicebox did not report the inherited socket:\n{log}"
    );
    assert!(
        child.try_wait().expect("wait").is_none(),
        "spicebox exited:\n{log}"
    );
    drop(guard);
    let _ = child.wait();
}

struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
