//! Every worker process is confined: no new privileges, a seccomp filter,
//! no capabilities, and its own user/mount/net/ipc namespaces (or, where the
//! kernel refuses one, a WARN line naming it). A worker that calls a system
//! call outside its allow-list dies of SIGSYS, is restarted, and the client's
//! session goes on over the same connections.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use spicebox_tests::client::{
    consts::*, drain_until_quiet, expect_open, key_body, wait_full_draw, Channel, ClientSurface,
    Session, MSG_DISPLAY_INVAL_ALL_PIXMAPS,
};
use spicebox_tests::harness::{
    assert_same_image, event_matches, is_warn_line, pid_alive, proc_stat, session_channels,
    worker_entry, worker_entry_phase, worker_entry_pid, worker_history, InputLog, Server, TempDir,
};

const RESTART_TIMEOUT: Duration = Duration::from_secs(15);
const REDRAW_TIMEOUT: Duration = Duration::from_secs(20);
const SETTLE: Duration = Duration::from_secs(5);
const ROLES: [&str; 2] = ["display", "inputs"];

/// The value of field `name` in /proc/TASK/status (TASK: "PID" or
/// "PID/task/TID").
fn status_field(task: &str, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{task}/status")).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == name).then(|| v.trim().to_owned())
    })
}

/// The target of /proc/PID/ns/NAME, e.g. "net:[4026531840]".
fn ns_link(pid: u32, name: &str) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/{name}"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Names a log line may use for a namespace.
fn ns_aliases(name: &str) -> &'static [&'static str] {
    match name {
        "user" => &["user"],
        "mnt" => &["mount", "mnt"],
        "net" => &["net"],
        "ipc" => &["ipc"],
        _ => &[],
    }
}

/// Checks the confinement of worker `role` (pid `pid`) of `server`.
fn assert_confined(server: &Server, role: &str, pid: u32) {
    let st = proc_stat(pid).unwrap_or_else(|| panic!("{role} worker {pid} is gone"));
    assert_eq!(
        st.ppid,
        server.pid(),
        "{role} worker {pid} is not the supervisor's child"
    );
    // The process, and every one of its threads (a filter installed on one
    // thread does not cover threads started before it).
    let mut tasks: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| format!("{pid}/task/{}", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    tasks.insert(0, pid.to_string());
    for task in &tasks {
        let field = |name: &str| -> String {
            status_field(task, name)
                .unwrap_or_else(|| panic!("{role} worker {pid}: /proc/{task}/status has no {name}"))
        };
        assert_eq!(
            field("NoNewPrivs"),
            "1",
            "{role} worker {pid}: NoNewPrivs of /proc/{task}"
        );
        assert_eq!(
            field("Seccomp"),
            "2",
            "{role} worker {pid}: Seccomp of /proc/{task} (2 = filter mode)"
        );
        for cap in ["CapEff", "CapPrm", "CapBnd"] {
            let v = field(cap);
            let n = u64::from_str_radix(&v, 16)
                .unwrap_or_else(|e| panic!("{role} worker {pid}: {cap} {v:?}: {e}"));
            assert_eq!(
                n, 0,
                "{role} worker {pid}: {cap} of /proc/{task} is {v}, expected no capabilities"
            );
        }
    }

    let sup = server.pid();
    let mut shared = Vec::new();
    for ns in ["user", "mnt", "net", "ipc"] {
        let mine = ns_link(pid, ns)
            .unwrap_or_else(|| panic!("{role} worker {pid}: cannot read /proc/{pid}/ns/{ns}"));
        let theirs = ns_link(sup, ns)
            .unwrap_or_else(|| panic!("supervisor {sup}: cannot read /proc/{sup}/ns/{ns}"));
        if mine == theirs {
            shared.push(ns);
        }
    }
    if shared.is_empty() {
        return;
    }
    // Fallback: each namespace not entered is named in a WARN line about
    // namespaces.
    let log = server.log_text();
    let warns: Vec<&str> = log
        .lines()
        .filter(|l| is_warn_line(l) && l.contains("namespaces"))
        .collect();
    for ns in &shared {
        assert!(
            warns
                .iter()
                .any(|l| ns_aliases(ns).iter().any(|a| l.contains(a))),
            "{role} worker {pid} shares the supervisor's {ns} namespace and no WARN line \
             about namespaces names it; WARN lines with \"namespaces\": {warns:?}"
        );
    }
    eprintln!("note: {role} worker {pid} shares namespaces {shared:?} (warning logged)");
}

#[test]
fn every_worker_is_confined_also_after_a_restart() {
    let mut server = Server::start(&["--disable-ticketing", "--demo-freeze"]);
    for role in ROLES {
        let pid = server.running_worker_pid(role, RESTART_TIMEOUT);
        assert_confined(&server, role, pid);
    }
    // A restarted instance is confined the same way.
    for role in ROLES {
        let old = server.running_worker_pid(role, RESTART_TIMEOUT);
        let out = server
            .ctl(&["restart-worker", role])
            .unwrap_or_else(|e| panic!("ctl restart-worker {role}: {e}"));
        assert!(
            out.success(),
            "ctl restart-worker {role}: {}",
            out.describe()
        );
        let w = server.wait_worker_replaced(role, old, RESTART_TIMEOUT);
        assert_confined(&server, role, worker_entry_pid(&w));
    }
    server.assert_healthy("after confinement checks", SETTLE);
}

/// A session with main, display and inputs, its first picture received.
struct Client {
    session: Session,
    display: Channel,
    inputs: Channel,
    surface: ClientSurface,
}

fn connect(server: &Server) -> Client {
    let session = Session::connect(server.addr(), "").expect("main channel");
    let mut display = session.open_display(0).expect("display channel");
    let mut inputs = session.open_inputs().expect("inputs channel");
    let mut surface = ClientSurface::default();
    wait_full_draw(&mut display, &mut surface, REDRAW_TIMEOUT, 10_000)
        .unwrap_or_else(|e| panic!("first picture: {e}"));
    inputs
        .recv_type(MSG_INPUTS_INIT, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("inputs INIT: {e}"));
    // Everything already on its way, so that what comes after the fault
    // is the new worker's.
    drain_until_quiet(
        &mut display,
        &mut surface,
        Duration::from_millis(500),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("display channel after the first picture: {e}"));
    Client {
        session,
        display,
        inputs,
        surface,
    }
}

fn wait_channels(server: &Server, sid: u32) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let c = session_channels(server, sid);
        if c.iter().any(|(t, _)| t == "display") && c.iter().any(|(t, _)| t == "inputs") {
            return c;
        }
        if Instant::now() >= deadline {
            panic!("session {sid} never listed display and inputs: {c:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Types a key (press + release) and waits until the host logged both.
fn key_reaches_host(context: &str, inputs: &mut Channel, log: &InputLog, sid: u32, code: u32) {
    let before = log.events().expect("input log").len();
    inputs
        .send(MSGC_INPUTS_KEY_DOWN, &key_body(code))
        .unwrap_or_else(|e| panic!("{context}: KEY_DOWN: {e}"));
    inputs
        .send(MSGC_INPUTS_KEY_UP, &key_body(code | 0x80))
        .unwrap_or_else(|e| panic!("{context}: KEY_UP: {e}"));
    let want = [
        json!({"session": sid, "event": "key", "code": code, "pressed": true}),
        json!({"session": sid, "event": "key", "code": code, "pressed": false}),
    ];
    let found = |ev: &[Value]| {
        ev.len() >= before + 2
            && ev[before..]
                .windows(2)
                .any(|w| event_matches(&w[0], &want[0]) && event_matches(&w[1], &want[1]))
    };
    let got = log
        .wait_until(Duration::from_secs(15), found)
        .expect("input log");
    assert!(
        found(&got),
        "{context}: key {code:#x} did not reach the host; events after the restart: {:?}",
        &got[before.min(got.len())..]
    );
}

/// Makes worker `role` break its seccomp policy and checks that it dies of
/// SIGSYS, is replaced, and that the session goes on.
fn fault_and_recover(role: &str) {
    let dir = TempDir::new("spicebox-conf").expect("temp dir");
    let log_path = dir.path().join("input.jsonl");
    let mut server = Server::start(&[
        "--disable-ticketing",
        "--demo-freeze",
        "--test-hooks",
        "--demo-input-log",
        log_path.to_str().expect("UTF-8 temp path"),
    ]);
    let log = InputLog::new(log_path);
    let mut c = connect(&server);
    let sid = c.session.session_id;
    let channels = wait_channels(&server, sid);
    key_reaches_host("before the fault", &mut c.inputs, &log, sid, 0x1e);

    let old = server.running_worker_pid(role, RESTART_TIMEOUT);
    let out = server
        .ctl(&["inject-fault", role])
        .unwrap_or_else(|e| panic!("ctl inject-fault {role}: {e}"));
    assert!(
        out.success(),
        "ctl inject-fault {role} failed: {}",
        out.describe()
    );

    let ctx = format!("after inject-fault {role}");
    let w = server
        .wait_worker(role, RESTART_TIMEOUT, |w| {
            let pid = worker_entry_pid(w);
            worker_entry_phase(w) == "running" && pid != 0 && pid != old && pid_alive(pid)
        })
        .unwrap_or_else(|e| {
            let hint = server.log_lines_with("forbidden syscall");
            panic!(
                "{ctx}: the {role} worker (pid {old}) was not replaced: {e}; \
                 log lines about the forbidden syscall: {hint:?}"
            )
        });
    let history = worker_history(&w);
    let died = history
        .iter()
        .find(|e| {
            e.get("event").and_then(Value::as_str) == Some("died")
                && e.get("pid").and_then(Value::as_u64) == Some(u64::from(old))
        })
        .unwrap_or_else(|| panic!("{ctx}: no died event for pid {old}: {history:?}"));
    let detail = died.get("detail").and_then(Value::as_str).unwrap_or("");
    assert!(
        detail.contains("SIGSYS"),
        "{ctx}: the worker did not die of SIGSYS: {detail:?}; history: {history:?}"
    );
    assert_confined(&server, role, worker_entry_pid(&w));

    match role {
        "display" => {
            let redraw = wait_full_draw(&mut c.display, &mut c.surface, REDRAW_TIMEOUT, 10_000)
                .unwrap_or_else(|e| panic!("{ctx}: no full redraw on the display channel: {e}"));
            let full = redraw.full_draw_at.expect("full draw");
            assert!(
                redraw
                    .position(MSG_DISPLAY_INVAL_ALL_PIXMAPS)
                    .is_some_and(|i| i < full),
                "{ctx}: no INVAL_ALL_PIXMAPS before the redraw: {:?}",
                redraw.types
            );
            let dump = server.screendump();
            assert_same_image(
                "after-sigsys-rust-client",
                &dump,
                &c.surface.image().expect("surface"),
            );
        }
        _ => {
            c.inputs
                .recv_type(MSG_INPUTS_KEY_MODIFIERS, RESTART_TIMEOUT)
                .unwrap_or_else(|e| panic!("{ctx}: no KEY_MODIFIERS from the new worker: {e}"));
        }
    }
    key_reaches_host(&ctx, &mut c.inputs, &log, sid, 0x30);
    for (name, ch) in [
        ("main", &mut c.session.main),
        ("display", &mut c.display),
        ("inputs", &mut c.inputs),
    ] {
        if let Err(e) = expect_open(ch, Duration::from_millis(300)) {
            panic!("{ctx}: the client's {name} connection broke: {e}");
        }
    }
    assert_eq!(
        session_channels(&server, sid),
        channels,
        "{ctx}: the session's channels changed (a connection was closed and relinked?)"
    );
    let status = server.ctl_status();
    for other in ROLES {
        let w = worker_entry(&status, other).unwrap_or_else(|| panic!("no {other} worker"));
        assert_eq!(
            worker_entry_phase(w),
            "running",
            "{ctx}: {other} worker: {w}"
        );
    }
    server.assert_healthy(&ctx, SETTLE);
}

#[test]
fn display_worker_breaking_seccomp_dies_and_the_session_goes_on() {
    fault_and_recover("display");
}

#[test]
fn inputs_worker_breaking_seccomp_dies_and_the_session_goes_on() {
    fault_and_recover("inputs");
}

/// `--cpus` pins each worker type to its own CPUs (the CI machine has two).
#[test]
fn workers_are_pinned_as_asked() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (display_cpu, inputs_cpu) = if cores >= 2 { (1, 0) } else { (0, 0) };
    let pins = format!("display={display_cpu},inputs={inputs_cpu}");
    let server = Server::start(&["--disable-ticketing", "--demo-freeze", "--cpus", &pins]);
    let status = server.ctl_status();
    for (role, cpu) in [("display", display_cpu), ("inputs", inputs_cpu)] {
        let worker = spicebox_tests::harness::worker_entry(&status, role)
            .unwrap_or_else(|| panic!("no {role} worker in {status}"));
        let pid = spicebox_tests::harness::worker_entry_pid(worker);
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        let allowed = text
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(str::trim)
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            allowed,
            cpu.to_string(),
            "{role} worker pinned to {allowed}, wanted {cpu}"
        );
    }
}
