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
