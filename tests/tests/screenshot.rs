//! The real client's picture equals the server's own picture.
//!
//! `spicy-screenshot` (spice-gtk) connects, decodes whatever the display
//! worker sends for the first full screen, and saves it. With the demo
//! desktop frozen, that must equal `spicebox ctl screendump` (the primary
//! surface as the server holds it) pixel for pixel, for every image
//! compression and for sizes that are not multiples of any tile or block.

use spicebox_tests::harness::{assert_same_image, spicy_screenshot, Server};

/// Starts a frozen demo with `extra` flags, takes a screenshot with the
/// real client and compares it with the server's screendump.
fn client_sees_the_server_picture(label: &str, extra: &[&str], size: Option<(u32, u32)>) {
    let mut args = vec!["--disable-ticketing", "--demo-freeze"];
    args.extend_from_slice(extra);
    let server = Server::start(&args);

    let shot = spicy_screenshot(server.port(), None)
        .unwrap_or_else(|e| panic!("{label}: spicy-screenshot failed: {e}"));
    let dump = server.screendump();

    if let Some((w, h)) = size {
        assert_eq!(
            (dump.width, dump.height),
            (w, h),
            "{label}: screendump size does not follow --demo-size"
        );
    }
    // A blank picture on both sides would compare equal and prove nothing.
    assert!(
        dump.distinct_colours(8) >= 2,
        "{label}: the demo desktop is a single colour; the comparison would be meaningless"
    );
    assert_same_image(label, &dump, &shot);

    // The picture is stable while frozen: a second capture is the same.
    let again = server.screendump();
    assert_same_image(&format!("{label}-second-dump"), &dump, &again);
}

#[test]
fn uncompressed_bitmaps_match_screendump() {
    client_sees_the_server_picture("compression-off", &["--image-compression", "off"], None);
}

#[test]
fn lz4_images_match_screendump() {
    client_sees_the_server_picture("compression-lz4", &["--image-compression", "lz4"], None);
}

#[test]
fn size_1000x700_matches_screendump() {
    client_sees_the_server_picture(
        "size-1000x700",
        &["--image-compression", "off", "--demo-size", "1000x700"],
        Some((1000, 700)),
    );
}

#[test]
fn odd_size_lz4_matches_screendump() {
    client_sees_the_server_picture(
        "size-333x257-lz4",
        &["--image-compression", "lz4", "--demo-size", "333x257"],
        Some((333, 257)),
    );
}

#[test]
fn same_seed_gives_the_same_picture() {
    // What a seed is for: two servers with the same seed show the same frozen
    // desktop, and the real client agrees with both.
    let a = Server::start(&["--disable-ticketing", "--demo-freeze", "--demo-seed", "7"]);
    let b = Server::start(&["--disable-ticketing", "--demo-freeze", "--demo-seed", "7"]);
    let (da, db) = (a.screendump(), b.screendump());
    assert_same_image("seed-7-twice", &da, &db);
    let shot =
        spicy_screenshot(b.port(), None).unwrap_or_else(|e| panic!("spicy-screenshot failed: {e}"));
    assert_same_image("seed-7-client", &da, &shot);
}

/// Every image compression mode, with the real client as the decoder: the
/// picture is exact and the server never fell back to bitmaps.
fn mode_is_exact(mode: &str, size: Option<&str>) {
    let mut args = vec![
        "--disable-ticketing",
        "--demo-freeze",
        "--image-compression",
        mode,
    ];
    if let Some(s) = size {
        args.extend_from_slice(&["--demo-size", s]);
    }
    let server = Server::start(&args);
    let shot = spicy_screenshot(server.port(), None)
        .unwrap_or_else(|e| panic!("{mode}: spicy-screenshot failed: {e}"));
    let dump = server.screendump();
    assert!(dump.distinct_colours(8) >= 2, "{mode}: blank picture");
    assert_same_image(
        &format!("mode-{mode}-{}", size.unwrap_or("default")),
        &dump,
        &shot,
    );
    let log = server.log_text();
    assert!(
        !log.contains("encoder failed"),
        "{mode}: the encoder fell back to bitmaps:\n{log}"
    );
}

#[test]
fn quic_images_match_screendump() {
    mode_is_exact("quic", None);
    mode_is_exact("quic", Some("333x257"));
}

#[test]
fn lz_images_match_screendump() {
    mode_is_exact("lz", None);
    mode_is_exact("lz", Some("333x257"));
}

#[test]
fn glz_images_match_screendump() {
    mode_is_exact("glz", None);
    mode_is_exact("glz", Some("333x257"));
}

#[test]
fn auto_modes_match_screendump() {
    mode_is_exact("auto_lz", None);
    mode_is_exact("auto_glz", Some("333x257"));
}

/// `ctl set image-compression` takes effect for the next image: the first
/// draw of a client that connects afterwards uses the new codec.
#[test]
fn compression_changes_at_run_time() {
    use spicebox_tests::client::{caps, display_init_body, parse_draw_copy_head, Session};
    let server = Server::start(&[
        "--disable-ticketing",
        "--demo-freeze",
        "--image-compression",
        "off",
    ]);
    let first_image_type = |server: &Server| -> u8 {
        let session = Session::connect(server.addr(), "").expect("session");
        // A client that decodes LZ4, like spice-gtk: monitors config (1) and
        // LZ4 (5) capabilities.
        let mut display = session.open(2, 0, &caps(&[1, 5])).expect("display");
        display
            .send(101, &display_init_body())
            .expect("DISPLAY_INIT");
        let body = display
            .recv_type(304, std::time::Duration::from_secs(10))
            .expect("a DRAW_COPY");
        let head = parse_draw_copy_head(&body).expect("draw copy");
        // SpiceImage descriptor: u64 id, then u8 type.
        body[head.image_offset as usize + 8]
    };
    assert_eq!(
        first_image_type(&server),
        0,
        "bitmap expected with compression off"
    );
    let out = server
        .ctl(&["set", "image-compression", "lz4"])
        .expect("ctl set");
    assert!(out.success(), "ctl set failed: {}", out.describe());
    assert_eq!(server.ctl_status()["image_compression"], "lz4");
    assert_eq!(
        first_image_type(&server),
        109,
        "LZ4 expected after the switch"
    );
    let out = server
        .ctl(&["set", "image-compression", "zstd"])
        .expect("ctl set");
    assert!(!out.success(), "an unknown mode must be refused");
    let shot = spicy_screenshot(server.port(), None).expect("spicy-screenshot");
    assert_same_image("after-switch", &server.screendump(), &shot);
}
