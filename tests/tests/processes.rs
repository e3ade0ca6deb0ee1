//! The process model: one supervisor, a host process and one worker per
//! channel role, each its own process, children of the supervisor, and
//! visible in `ctl status` together with the sessions and their channels.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use spicebox_tests::client::Session;
use spicebox_tests::harness::{pid_alive, proc_stat, Server};

fn pid_of(v: &Value, what: &str) -> u32 {
    let pid = v
        .as_u64()
        .unwrap_or_else(|| panic!("ctl status: {what} is not a number: {v}"));
    u32::try_from(pid).unwrap_or_else(|_| panic!("ctl status: {what} = {pid} is not a pid"))
}

/// (role, pid) of every worker in a status document.
fn workers(status: &Value) -> Vec<(String, u32)> {
    status
        .get("workers")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("ctl status has no workers array: {status}"))
        .iter()
        .map(|w| {
            let role = w
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("worker without role: {w}"))
                .to_owned();
            let pid = pid_of(
                w.get("pid").unwrap_or(&Value::Null),
                &format!("pid of {role}"),
            );
            (role, pid)
        })
        .collect()
}

#[test]
fn every_role_is_its_own_child_process() {
    let server = Server::start(&["--disable-ticketing", "--demo-freeze"]);
    let status = server.ctl_status();

    let sup = pid_of(
        status.get("supervisor_pid").unwrap_or(&Value::Null),
        "supervisor_pid",
    );
    assert_eq!(
        sup,
        server.pid(),
        "supervisor_pid is not the process the test started"
    );
    let host = pid_of(
        status.pointer("/host/pid").unwrap_or(&Value::Null),
        "host.pid",
    );

    let ws = workers(&status);
    let find = |role: &str| -> u32 {
        let pids: Vec<u32> = ws
            .iter()
            .filter(|(r, _)| r == role)
            .map(|&(_, p)| p)
            .collect();
        assert_eq!(pids.len(), 1, "expected one {role} worker in {status}");
        pids[0]
    };
    let display = find("display");
    let inputs = find("inputs");

    let all = [
        ("supervisor", sup),
        ("host", host),
        ("display", display),
        ("inputs", inputs),
    ];
    let distinct: HashSet<u32> = all.iter().map(|&(_, p)| p).collect();
    assert_eq!(distinct.len(), all.len(), "processes share a pid: {all:?}");

    for (name, pid) in all {
        assert!(pid_alive(pid), "{name} (pid {pid}) is not a live process");
        assert_ne!(pid, std::process::id(), "{name} claims the test's own pid");
    }
    for (name, pid) in &all[1..] {
        let st = proc_stat(*pid).unwrap_or_else(|| panic!("{name} (pid {pid}) vanished"));
        assert_eq!(
            st.ppid, sup,
            "{name} (pid {pid}) is not a child of the supervisor ({sup})"
        );
    }

    // Workers live as long as the server: the same pids a moment later.
    std::thread::sleep(Duration::from_millis(500));
    let again = server.ctl_status();
    assert_eq!(workers(&again).len(), ws.len());
    for (role, pid) in &ws {
        assert!(
            workers(&again).contains(&(role.clone(), *pid)),
            "{role} worker changed pid without reason: {again}"
        );
        assert!(pid_alive(*pid), "{role} worker {pid} died");
    }
}

#[test]
fn status_lists_sessions_and_their_channels() {
    let server = Server::start(&["--disable-ticketing", "--demo-freeze"]);
    let before = server.ctl_status();
    assert_eq!(
        before
            .get("sessions")
            .and_then(Value::as_array)
            .map(Vec::len),
        Some(0),
        "sessions before any client: {before}"
    );

    let session = Session::connect(server.addr(), "").expect("session");
    let display = session.open_display(0).expect("display channel");
    let main_peer = session.main.local_addr().to_string();
    let display_peer = display.local_addr().to_string();

    // The display channel may be registered a moment after its link.
    let deadline = Instant::now() + Duration::from_secs(10);
    let ours = loop {
        let status = server.ctl_status();
        let found = status
            .get("sessions")
            .and_then(Value::as_array)
            .and_then(|s| {
                s.iter()
                    .find(|s| {
                        s.get("id").and_then(Value::as_u64) == Some(u64::from(session.session_id))
                    })
                    .cloned()
            });
        let has_display = found.as_ref().is_some_and(|s| {
            s.get("channels")
                .and_then(Value::as_array)
                .is_some_and(|c| {
                    c.iter().any(|c| {
                        c.get("type").and_then(Value::as_str) == Some("display")
                            && c.get("id").and_then(Value::as_u64) == Some(0)
                    })
                })
        });
        if has_display {
            break found.expect("checked above");
        }
        if Instant::now() >= deadline {
            panic!(
                "ctl status never listed session {} with display 0: {status}",
                session.session_id
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        ours.get("peer").and_then(Value::as_str),
        Some(main_peer.as_str()),
        "session peer is not the main channel's address: {ours}"
    );
    let display_entry = ours["channels"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("display"))
        })
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        display_entry.get("peer").and_then(Value::as_str),
        Some(display_peer.as_str()),
        "display channel peer: {ours}"
    );

    // Gone from the list once the client disconnects.
    drop(display);
    drop(session);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = server.ctl_status();
        let n = status
            .get("sessions")
            .and_then(Value::as_array)
            .map(Vec::len);
        if n == Some(0) {
            break;
        }
        if Instant::now() >= deadline {
            panic!("the session stayed in ctl status after its client left: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The main channel measures the round trip with PING: a client that
/// answers (the test client sends PONG, as spice-gtk does) gets a latency
/// figure in `ctl status`.
#[test]
fn main_channel_pings_and_measures_the_round_trip() {
    let server = Server::start(&["--disable-ticketing", "--demo-freeze"]);
    assert_eq!(
        server.ctl_status()["main_rtt_us"],
        0,
        "no round trip before any client"
    );
    let mut session = Session::connect(server.addr(), "").expect("session");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        // Reading lets the client answer the server's PING with a PONG.
        let _ = session.main.recv(Duration::from_millis(200));
        let status = server.ctl_status();
        let rtt = status["main_rtt_us"].as_u64().unwrap_or(0);
        let link = &status["sessions"][0]["link"];
        if rtt > 0 && link.is_object() {
            assert!(rtt < 5_000_000, "implausible loopback round trip {rtt} us");
            // The network test: loopback is far above the 10 Mbit/s below
            // which JPEG and ZLIB_GLZ set to `auto` would apply.
            assert_eq!(link["low_bandwidth"], false, "loopback link: {link}");
            let bps = link["bits_per_second"].as_u64().unwrap_or(0);
            assert!(bps > 10 * 1024 * 1024, "loopback measured at {bps} bit/s");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no PING/PONG round trip and network test within 15 s: {status}"
        );
    }
}
