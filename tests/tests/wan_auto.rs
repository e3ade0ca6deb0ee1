//! `auto` WAN codecs follow the link each session measured.
//!
//! The main channel times an empty PING and a 250 KiB one at the start of
//! every session; below 10 Mbit/s the session counts as low bandwidth and
//! JPEG (in place of QUIC) and ZLIB_GLZ set to `auto` apply to it. Here the
//! same server is reached twice by spicy-screenshot: once through a proxy
//! slowing server-to-client bytes to 4 Mbit/s, once directly. The slow
//! session's first picture (which waits for the test's result) is a JPEG
//! close to `ctl screendump`; the fast one is exact.

use spicebox_tests::harness::{assert_same_image, spicy_screenshot, Server};
use spicebox_tests::image::{assert_psnr_at_least, psnr};
use spicebox_tests::throttle::Throttle;

/// 4 Mbit/s: well under the 10 Mbit/s threshold, fast enough that the
/// first picture (a JPEG of a few hundred kB) arrives in about a second.
const SLOW_LINK_BYTES_PER_SECOND: u64 = 500 * 1024;
/// JPEG quality 85 of the frozen demo measured about 36 dB here; the
/// bound leaves room for encoder changes without accepting a broken image.
const MIN_PSNR_DB: f64 = 30.0;

#[test]
fn jpeg_auto_applies_on_a_slow_link_only() {
    let server = Server::start(&[
        "--disable-ticketing",
        "--demo-freeze",
        "--image-compression",
        "quic",
        "--jpeg-wan-compression",
        "auto",
    ]);
    let expected = server.screendump();

    let slow = Throttle::start(server.addr(), SLOW_LINK_BYTES_PER_SECOND).expect("proxy");
    let through_slow = spicy_screenshot(slow.port(), None)
        .unwrap_or_else(|e| panic!("spicy-screenshot through the slow link: {e}"));
    let lines = server.log_lines_with("network test done");
    assert!(
        lines.iter().any(|l| l.contains("low_bandwidth=true")),
        "the slow session was measured as low bandwidth: {lines:?}"
    );
    assert_psnr_at_least("slow link, JPEG", &expected, &through_slow, MIN_PSNR_DB);
    assert!(
        psnr(&expected, &through_slow).is_some_and(f64::is_finite),
        "the slow link's picture is lossy: JPEG was used"
    );

    let direct = spicy_screenshot(server.port(), None)
        .unwrap_or_else(|e| panic!("spicy-screenshot directly: {e}"));
    assert_same_image("fast link, lossless", &expected, &direct);
}
