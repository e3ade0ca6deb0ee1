//! Malformed and hostile connections are closed, logged once with the
//! peer's address, and leave every other session alone.
//!
//! Each test starts a server, connects a bystander session (main + display
//! channels, read continuously on a thread) and then misbehaves on a second
//! connection. Afterwards:
//! * the server has closed the misbehaving connection (bounded wait),
//! * where the SPICE spec names a link error, the link reply carries it,
//! * exactly one WARN line names the connection's `peer=` with a `reason=`,
//! * the bystander's channels are still open, its display keeps receiving,
//!   a new channel in its session still carries input to the host, and the
//!   real client (`spicy-screenshot`) still gets a picture.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use serde_json::json;
use spicebox_tests::client::{
    consts::*, default_common_caps, key_body, ClientError, Link, LinkErr, LinkParams, PutLe,
    RawConn,
};
use spicebox_tests::harness::{
    event_matches, spicebox_help, spicy_screenshot, InputLog, Server, TempDir,
};
use spicebox_tests::watch::WatchedSession;

/// Bound on waiting for the server to close a connection that misbehaved
/// in a way it can see at once.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound for a connection that just stops talking: the server's link
/// time-out (assumed at most 30 s) plus slack.
const SILENCE_TIMEOUT: Duration = Duration::from_secs(60);

struct Scene {
    server: Server,
    bystander: WatchedSession,
    input_log: InputLog,
    _dir: TempDir,
}

impl Scene {
    /// A live (not frozen) demo, so the bystander's display keeps receiving.
    fn start() -> Scene {
        Scene::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Scene {
        let dir = TempDir::new("spicebox-linkerr").expect("temp dir");
        let log_path = dir.path().join("input.jsonl");
        let mut args = vec![
            "--disable-ticketing",
            "--demo-input-log",
            log_path.to_str().expect("UTF-8 temp path"),
        ];
        args.extend_from_slice(extra);
        let server = Server::start(&args);
        let bystander = WatchedSession::connect(server.addr(), "").expect("bystander session");
        // It is up: its display channel has received its first messages.
        bystander.assert_display_flows(0, Duration::from_secs(15), "before the attack");
        Scene {
            server,
            bystander,
            input_log: InputLog::new(log_path),
            _dir: dir,
        }
    }

    /// Everything that must hold after the attack from `peer`.
    fn check_aftermath(&self, peer: SocketAddr, what: &str) {
        let line = self
            .server
            .expect_refusal_logged(peer, Duration::from_secs(10));
        eprintln!("{what}: logged: {line}");

        // The bystander's channels are open and its display still flows.
        self.bystander.assert_open(what);
        let seen = self.bystander.state().display_messages;
        self.bystander
            .assert_display_flows(seen, Duration::from_secs(15), what);

        // A new inputs channel in the bystander's session reaches the host.
        let mut inputs = self
            .bystander
            .open(CHANNEL_INPUTS, 0, &[])
            .unwrap_or_else(|e| panic!("{what}: inputs channel for the bystander session: {e}"));
        inputs
            .send(MSGC_INPUTS_KEY_DOWN, &key_body(0x2c))
            .expect("key down"); // 'z'
        inputs
            .send(MSGC_INPUTS_KEY_UP, &key_body(0xac))
            .expect("key up");
        let sid = self.bystander.session_id;
        let want = [
            json!({"session": sid, "event": "key", "code": 0x2c, "pressed": true}),
            json!({"session": sid, "event": "key", "code": 0x2c, "pressed": false}),
        ];
        let events = self
            .input_log
            .wait_until(Duration::from_secs(15), |ev| {
                ev.windows(2)
                    .any(|w| event_matches(&w[0], &want[0]) && event_matches(&w[1], &want[1]))
            })
            .expect("input log");
        assert!(
            events
                .windows(2)
                .any(|w| event_matches(&w[0], &want[0]) && event_matches(&w[1], &want[1])),
            "{what}: the bystander's key never reached the host; input log: {events:?}"
        );

        // The real client still gets a picture.
        let shot = spicy_screenshot(self.server.port(), None)
            .unwrap_or_else(|e| panic!("{what}: spicy-screenshot afterwards: {e}"));
        assert!(shot.width > 0 && shot.height > 0);
        self.bystander
            .assert_open(&format!("{what} (after spicy-screenshot)"));
    }
}

/// SpiceLinkHeader + SpiceLinkMess for a main channel, with the header
/// fields given.
fn link_bytes(magic: &[u8; 4], major: u32, size: Option<u32>) -> Vec<u8> {
    let mut b = LinkParams {
        channel_type: CHANNEL_MAIN,
        channel_id: 0,
        connection_id: 0,
        common_caps: default_common_caps(),
        channel_caps: Vec::new(),
    }
    .encode();
    b[0..4].copy_from_slice(magic);
    b[4..8].copy_from_slice(&major.to_le_bytes());
    if let Some(size) = size {
        b[12..16].copy_from_slice(&size.to_le_bytes());
    }
    b
}

/// Sends `bytes`, expects a link reply with `want` and then a close.
fn expect_link_error(scene: &Scene, bytes: &[u8], want: LinkErr, what: &str) {
    let mut conn = RawConn::connect(scene.server.addr()).expect("connecting");
    let peer = conn.local_addr();
    // The server may close before reading everything; that is fine.
    match conn.send(bytes) {
        Ok(()) | Err(ClientError::Closed) => {}
        Err(e) => panic!("{what}: sending: {e}"),
    }
    let reply = conn
        .read_link_reply(CLOSE_TIMEOUT)
        .unwrap_or_else(|e| panic!("{what}: expected a link reply with {want:?}, got {e}"));
    assert_eq!(reply.error, want, "{what}: link reply error");
    conn.wait_closed(CLOSE_TIMEOUT)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    scene.check_aftermath(peer, what);
}

#[test]
fn wrong_magic_is_refused() {
    let scene = Scene::start();
    expect_link_error(
        &scene,
        &link_bytes(b"REDX", VERSION_MAJOR, None),
        LinkErr::InvalidMagic,
        "wrong magic",
    );
}

#[test]
fn wrong_major_version_is_refused() {
    let scene = Scene::start();
    expect_link_error(
        &scene,
        &link_bytes(&MAGIC, 3, None),
        LinkErr::VersionMismatch,
        "major version 3",
    );
}

#[test]
fn huge_link_size_is_refused() {
    let scene = Scene::start();
    let bytes = link_bytes(&MAGIC, VERSION_MAJOR, Some(0xFFFF_FFFF));
    // Only the header: the server must not wait for 4 GiB.
    expect_link_error(
        &scene,
        &bytes[..16],
        LinkErr::InvalidData,
        "link size 0xFFFFFFFF",
    );
}

#[test]
fn truncated_link_then_silence_is_closed() {
    // With a --link-timeout flag, a short one keeps the test quick; without
    // it, allow the assumed default (at most 30 s) plus slack.
    let has_flag = spicebox_help().contains("--link-timeout");
    let (scene, bound) = if has_flag {
        (
            Scene::start_with(&["--link-timeout", "3"]),
            Duration::from_secs(3) + CLOSE_TIMEOUT,
        )
    } else {
        (Scene::start(), SILENCE_TIMEOUT)
    };
    let mut conn = RawConn::connect(scene.server.addr()).expect("connecting");
    let peer = conn.local_addr();
    let bytes = link_bytes(&MAGIC, VERSION_MAJOR, None);
    // The whole header and part of the message, then nothing.
    conn.send(&bytes[..16 + 7])
        .expect("sending a partial link message");
    let started = std::time::Instant::now();
    conn.wait_closed(bound)
        .unwrap_or_else(|e| panic!("a silent half-linked connection was not closed: {e}"));
    eprintln!("silent connection closed after {:?}", started.elapsed());
    scene.check_aftermath(peer, "truncated link message");
}

#[test]
fn unknown_channel_type_is_refused() {
    let scene = Scene::start();
    let stream = TcpStream::connect(scene.server.addr()).expect("connecting");
    let peer = stream.local_addr().expect("local address");
    let params = LinkParams {
        channel_type: 200,
        channel_id: 0,
        connection_id: scene.bystander.session_id,
        common_caps: default_common_caps(),
        channel_caps: Vec::new(),
    };
    match Link::handshake(stream, &params, b"") {
        // Refused either in the link reply or as the link result.
        Err(ClientError::LinkReply(LinkErr::ChannelNotAvailable))
        | Err(ClientError::LinkRefused(LinkErr::ChannelNotAvailable)) => {}
        Ok(mut ch) => {
            let closed = ch.wait_closed(CLOSE_TIMEOUT);
            panic!("channel type 200 was linked (afterwards: {closed:?})");
        }
        Err(e) => panic!("channel type 200: expected CHANNEL_NOT_AVAILABLE, got {e}"),
    }
    scene.check_aftermath(peer, "channel type 200");
}

/// Links a new session's main channel, reads its INIT, then sends `garbage`.
fn garbage_after_link(scene: &Scene, garbage: &[u8], what: &str) {
    let mut main = Link::connect(
        scene.server.addr(),
        CHANNEL_MAIN,
        0,
        0,
        "",
        &default_common_caps(),
        &[],
    )
    .unwrap_or_else(|e| panic!("{what}: linking the main channel: {e}"));
    assert!(main.mini_header(), "{what}: expected the mini header");
    main.recv_type(MSG_MAIN_INIT, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{what}: no MAIN INIT: {e}"));
    let peer = main.local_addr();
    match main.send_raw(garbage) {
        Ok(()) | Err(ClientError::Closed) => {}
        Err(e) => panic!("{what}: sending: {e}"),
    }
    main.wait_closed(CLOSE_TIMEOUT)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    scene.check_aftermath(peer, what);
}

#[test]
fn absurd_message_size_on_main_is_closed() {
    let scene = Scene::start();
    let mut g = Vec::new();
    g.put_u16(MSGC_MAIN_ATTACH_CHANNELS).put_u32(0xFFFF_FFF0);
    g.extend_from_slice(&[0u8; 64]);
    garbage_after_link(&scene, &g, "main message of 4 GiB");
}

#[test]
fn random_bytes_on_main_are_closed() {
    let scene = Scene::start();
    // A fixed seed, so a failure can be replayed. The bytes are framed as
    // one message of a type the main channel does not have, so the server
    // sees a complete message and must reject it rather than wait for more.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5b1c_e60c);
    let mut body = vec![0u8; 4090];
    rng.fill(&mut body[..]);
    let mut g = Vec::new();
    g.put_u16(0xfe17).put_u32(body.len() as u32);
    g.extend_from_slice(&body);
    garbage_after_link(
        &scene,
        &g,
        "random bytes in a main message of unknown type 0xfe17",
    );
}
