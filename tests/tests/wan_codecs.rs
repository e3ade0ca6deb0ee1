//! The WAN codecs with real clients: JPEG in place of QUIC and ZLIB_GLZ
//! around GLZ.
//!
//! `spicy-screenshot` (spice-gtk: libjpeg, zlib, its GLZ window) decodes
//! what the display worker sends for the first full screen of a frozen
//! demo, and the picture is compared with `spicebox ctl screendump`: close
//! for JPEG (lossy), exact for everything else. The Rust test client reads
//! the same first screen and reports which image types went out, so a test
//! cannot pass because the codec under test was silently not used.

use std::time::{Duration, Instant};

use spicebox_tests::client::{caps, display_init_body, parse_draw_copy_head, ClientError, Session};
use spicebox_tests::harness::{assert_same_image, spicy_screenshot, Server};
use spicebox_tests::image::{assert_psnr_at_least, diff, Image};

/// DRAW_COPY.
const MSG_DISPLAY_DRAW_COPY: u16 = 304;
/// SpiceImage types.
const IMAGE_TYPE_QUIC: u8 = 1;
const IMAGE_TYPE_JPEG: u8 = 105;
const IMAGE_TYPE_ZLIB_GLZ_RGB: u8 = 107;

/// The real client's picture of the JPEG-coded demo desktop against the
/// server's own, over R, G and B. Measured: 36.5 dB (default 1280x800
/// frozen demo, quality 85, spice-gtk 0.42's libjpeg-turbo).
const MIN_JPEG_PSNR_DB: f64 = 33.0;

/// How long the display channel must stay silent for the first picture
/// to count as complete, and the most the test waits for that.
const QUIET: Duration = Duration::from_secs(1);
const FIRST_PICTURE_TIMEOUT: Duration = Duration::from_secs(20);

/// A frozen demo server with `extra` flags.
fn start(extra: &[&str]) -> Server {
    let mut args = vec!["--disable-ticketing", "--demo-freeze"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// The server's screendump and the real client's screenshot.
fn pictures(label: &str, server: &Server) -> (Image, Image) {
    let shot = spicy_screenshot(server.port(), None)
        .unwrap_or_else(|e| panic!("{label}: spicy-screenshot failed: {e}"));
    let dump = server.screendump();
    // A blank picture on both sides would compare equal and prove nothing.
    assert!(
        dump.distinct_colours(8) >= 2,
        "{label}: the demo desktop is a single colour; the comparison would be meaningless"
    );
    (dump, shot)
}

/// The image type of every DRAW_COPY a Rust client receives for its first
/// picture (until the channel stays quiet for [`QUIET`]).
fn image_types_sent(label: &str, server: &Server) -> Vec<u8> {
    let session =
        Session::connect(server.addr(), "").unwrap_or_else(|e| panic!("{label}: session: {e}"));
    // Capabilities like spice-gtk's: monitors config (1) and LZ4 (5).
    let mut display = session
        .open(2, 0, &caps(&[1, 5]))
        .unwrap_or_else(|e| panic!("{label}: display channel: {e}"));
    // DISPLAY_INIT announces a GLZ window of 3M pixels, above the demo's.
    display
        .send(101, &display_init_body())
        .unwrap_or_else(|e| panic!("{label}: DISPLAY_INIT: {e}"));
    let deadline = Instant::now() + FIRST_PICTURE_TIMEOUT;
    let mut types = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            panic!("{label}: the display channel never went quiet; image types so far {types:?}");
        }
        match display.recv(QUIET.min(left)) {
            Ok((MSG_DISPLAY_DRAW_COPY, body)) => types.push(image_type(label, &body)),
            Ok(_) => {}
            Err(ClientError::Timeout(_)) if !types.is_empty() => return types,
            Err(ClientError::Timeout(_)) => {}
            Err(e) => panic!("{label}: display channel: {e}; image types so far {types:?}"),
        }
    }
}

/// The SpiceImage type of a DRAW_COPY body (descriptor: u64 id, u8 type).
fn image_type(label: &str, body: &[u8]) -> u8 {
    let head = parse_draw_copy_head(body).unwrap_or_else(|e| panic!("{label}: bad DRAW_COPY: {e}"));
    let at = head.image_offset as usize + 8;
    *body
        .get(at)
        .unwrap_or_else(|| panic!("{label}: DRAW_COPY image offset {at} beyond the body"))
}

/// The server never fell back to plain bitmaps.
fn assert_no_encoder_failure(label: &str, server: &Server) {
    let log = server.log_text();
    assert!(
        !log.contains("encoder failed"),
        "{label}: the encoder fell back to bitmaps:\n{log}"
    );
}

/// `quic` with JPEG always on: the client's picture is close to the
/// server's but not equal (JPEG went out, and JPEG is lossy), and the
/// images were JPEG.
#[test]
fn jpeg_always_is_close_and_lossy() {
    let label = "jpeg-always";
    let server = start(&[
        "--image-compression",
        "quic",
        "--jpeg-wan-compression",
        "always",
    ]);
    let (dump, shot) = pictures(label, &server);
    assert_psnr_at_least(label, &dump, &shot, MIN_JPEG_PSNR_DB);
    assert!(
        !diff(&dump, &shot).is_equal(),
        "{label}: the picture is exact; JPEG cannot have been used"
    );
    let types = image_types_sent(label, &server);
    assert!(
        types.contains(&IMAGE_TYPE_JPEG),
        "{label}: no JPEG (105) image among {types:?}"
    );
    assert_no_encoder_failure(label, &server);
}

/// `auto_glz` with ZLIB_GLZ always on: exact, and at least one image went
/// out deflated (the client inflated it and GLZ-decoded the result into
/// its window).
#[test]
fn zlib_glz_always_is_exact() {
    let label = "zlib-glz-always";
    let server = start(&[
        "--image-compression",
        "auto_glz",
        "--zlib-glz-wan-compression",
        "always",
    ]);
    let (dump, shot) = pictures(label, &server);
    assert_same_image(label, &dump, &shot);
    let types = image_types_sent(label, &server);
    assert!(
        types.contains(&IMAGE_TYPE_ZLIB_GLZ_RGB),
        "{label}: no ZLIB_GLZ_RGB (107) image among {types:?}"
    );
    assert_no_encoder_failure(label, &server);
}

/// JPEG on `auto`: loopback is not a low-bandwidth link, so QUIC stays
/// and the picture is exact.
#[test]
fn jpeg_auto_on_loopback_stays_lossless() {
    let label = "jpeg-auto";
    let server = start(&[
        "--image-compression",
        "quic",
        "--jpeg-wan-compression",
        "auto",
    ]);
    let (dump, shot) = pictures(label, &server);
    assert_same_image(label, &dump, &shot);
    let types = image_types_sent(label, &server);
    assert!(
        types.contains(&IMAGE_TYPE_QUIC) && !types.contains(&IMAGE_TYPE_JPEG),
        "{label}: expected QUIC (1) and no JPEG (105), got {types:?}"
    );
    assert_no_encoder_failure(label, &server);
}
