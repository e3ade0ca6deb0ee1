//! Ticket (password) authentication, with the real client and the Rust one.
//!
//! The password comes from `SPICEBOX_PASSWORD` or `--password-file`. The right
//! password gets a picture; a wrong one is refused with PERMISSION_DENIED as
//! the link result, logged once with the client's address, and does not
//! disturb the server for the next (correct) client.

use std::net::TcpStream;
use std::time::Duration;

use spicebox_tests::client::{
    consts::*, default_common_caps, ClientError, Link, LinkErr, LinkParams, Session,
};
use spicebox_tests::harness::{assert_same_image, spicy_screenshot, Server, TempDir};

/// Links a main channel with `password` from a socket whose local address
/// is returned too (the refusal must be logged with it).
fn rust_client_link(
    server: &Server,
    password: &str,
) -> (std::net::SocketAddr, Result<(), ClientError>) {
    let stream = TcpStream::connect(server.addr()).expect("connecting to the server");
    let local = stream.local_addr().expect("local address");
    let params = LinkParams {
        channel_type: CHANNEL_MAIN,
        channel_id: 0,
        connection_id: 0,
        common_caps: default_common_caps(),
        channel_caps: Vec::new(),
    };
    let res = Link::handshake(stream, &params, password.as_bytes()).map(|_| ());
    (local, res)
}

/// Everything one password source must satisfy.
fn check_password_protection(server: &Server, password: &str) {
    // The right password: a picture equal to the server's.
    let shot = spicy_screenshot(server.port(), Some(password))
        .unwrap_or_else(|e| panic!("spicy-screenshot with the right password failed: {e}"));
    assert_same_image("right-password", &server.screendump(), &shot);

    // Wrong and empty passwords: no picture.
    for wrong in [Some("wrong"), Some("secreT"), None] {
        match spicy_screenshot(server.port(), wrong) {
            Ok(img) => panic!(
                "spicy-screenshot with password {wrong:?} got a {}x{} picture",
                img.width, img.height
            ),
            // spice-gtk reports SPICE_CHANNEL_ERROR_AUTH (23) on the main
            // channel: refused for the password, not for anything else.
            Err(e) => assert!(
                e.contains("main channel event: 23"),
                "password {wrong:?}: spicy-screenshot failed, but not with an auth error: {e}"
            ),
        }
    }

    // The Rust client with a wrong password: PERMISSION_DENIED as the link
    // result, and one WARN line naming this very connection.
    let (peer, res) = rust_client_link(server, "not-the-password");
    match res {
        Err(ClientError::LinkRefused(LinkErr::PermissionDenied)) => {}
        other => panic!("wrong password: expected LinkRefused(PermissionDenied), got {other:?}"),
    }
    let line = server.expect_refusal_logged(peer, Duration::from_secs(10));
    assert!(
        !line.contains(password),
        "the refusal log line leaks the password: {line}"
    );

    // A password that is a prefix of the right one is wrong too.
    if password.len() > 1 {
        let (_, res) = rust_client_link(server, &password[..password.len() - 1]);
        assert!(
            matches!(
                res,
                Err(ClientError::LinkRefused(LinkErr::PermissionDenied))
            ),
            "a prefix of the password was not refused: {res:?}"
        );
    }

    // The server still serves correct clients: the Rust client gets a
    // session with a display channel, and the real client a picture.
    let session = Session::connect(server.addr(), password)
        .unwrap_or_else(|e| panic!("right password after refusals: {e}"));
    let mut display = session
        .open_display(0)
        .unwrap_or_else(|e| panic!("display channel with the right password: {e}"));
    display
        .recv_type(MSG_DISPLAY_SURFACE_CREATE, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("no SURFACE_CREATE on the display channel: {e}"));
    let shot = spicy_screenshot(server.port(), Some(password))
        .unwrap_or_else(|e| panic!("spicy-screenshot after refusals failed: {e}"));
    assert_same_image("right-password-after-refusals", &server.screendump(), &shot);
}

#[test]
fn password_from_environment() {
    let server = Server::start_with_env(&["--demo-freeze"], &[("SPICEBOX_PASSWORD", "s3cr3t-env")]);
    check_password_protection(&server, "s3cr3t-env");
}

#[test]
fn password_from_file() {
    let dir = TempDir::new("spicebox-pw").expect("temp dir");
    let file = dir.path().join("password");
    // The password is the file's first line (as `echo PASSWORD > FILE` writes it).
    std::fs::write(&file, "file-s3cret\n").expect("writing the password file");
    let file = file.to_str().expect("UTF-8 temp path");
    let server = Server::start(&["--demo-freeze", "--password-file", file]);
    check_password_protection(&server, "file-s3cret");
}

#[test]
fn password_protects_every_channel() {
    // A display channel linked into a real session with the wrong password
    // is refused too: the ticket is checked on every link, not only main.
    let server = Server::start_with_env(&["--demo-freeze"], &[("SPICEBOX_PASSWORD", "s3cr3t-env")]);
    let session =
        Session::connect(server.addr(), "s3cr3t-env").expect("session with the right password");
    let stream = TcpStream::connect(server.addr()).expect("connecting");
    let peer = stream.local_addr().expect("local address");
    let params = LinkParams {
        channel_type: CHANNEL_DISPLAY,
        channel_id: 0,
        connection_id: session.session_id,
        common_caps: default_common_caps(),
        channel_caps: Vec::new(),
    };
    match Link::handshake(stream, &params, b"wrong") {
        Err(ClientError::LinkRefused(LinkErr::PermissionDenied)) => {}
        other => {
            panic!("display link with a wrong password: expected PermissionDenied, got {other:?}")
        }
    }
    server.expect_refusal_logged(peer, Duration::from_secs(10));
    // The session itself is unaffected.
    let mut display = session
        .open_display(0)
        .expect("display with the right password");
    display
        .recv_type(MSG_DISPLAY_SURFACE_CREATE, Duration::from_secs(10))
        .expect("SURFACE_CREATE");
}

#[test]
fn disable_ticketing_accepts_any_password() {
    // As with QEMU's disable-ticketing: no password is checked at all.
    let server = Server::start(&["--disable-ticketing", "--demo-freeze"]);
    for pw in ["", "anything"] {
        let session = Session::connect(server.addr(), pw)
            .unwrap_or_else(|e| panic!("password {pw:?} with ticketing disabled: {e}"));
        assert_ne!(session.session_id, 0);
    }
}
