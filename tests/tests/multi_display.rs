//! Several displays (`--displays 2`): each is its own display and cursor
//! channel (ids 0 and 1), served by its own display worker from its own
//! shared framebuffer. The demo draws a different desktop on each.
//!
//! - The Rust test client links both display channels of one session and
//!   each shows its display's `ctl screendump --display K` exactly; the
//!   two pictures differ; INIT and CHANNELS_LIST announce two displays; a
//!   third display is refused at the link stage.
//! - Restarting display 1's worker redraws display 1 only: display 0's
//!   channel stays silent and its worker keeps its process.
//! - A live spicy links display channel 1 and its cursor channel, and
//!   spice-gtk builds display 1's surface and monitor from them.

use std::time::{Duration, Instant};

use spicebox_tests::client::{
    consts::*, drain_until_quiet, wait_full_draw, ClientError, ClientSurface, Session,
};
use spicebox_tests::harness::{assert_same_image, Server};
use spicebox_tests::live_client::LiveClient;

/// The display is taken as settled after this long without a message.
const QUIET: Duration = Duration::from_millis(600);

fn worker_pid(server: &Server, name: &str) -> u64 {
    let status = server.ctl_status();
    status["workers"]
        .as_array()
        .and_then(|ws| ws.iter().find(|w| w["role"] == name))
        .and_then(|w| w["pid"].as_u64())
        .unwrap_or_else(|| panic!("no {name} worker in ctl status: {status}"))
}

#[test]
fn each_display_has_its_own_channel_worker_and_picture() {
    let server = Server::start(&["--disable-ticketing", "--demo-freeze", "--displays", "2"]);
    let session = Session::connect(server.addr(), "").expect("main channel");
    assert_eq!(session.init.display_channels_hint, 2);
    for want in [
        (CHANNEL_DISPLAY, 0),
        (CHANNEL_CURSOR, 0),
        (CHANNEL_DISPLAY, 1),
        (CHANNEL_CURSOR, 1),
        (CHANNEL_INPUTS, 0),
    ] {
        assert!(
            session.channels.contains(&want),
            "{want:?} missing from CHANNELS_LIST {:?}",
            session.channels
        );
    }

    let mut channels = Vec::new();
    for id in 0..2u8 {
        let mut display = session.open_display(id).expect("display channel");
        let mut surface = ClientSurface::default();
        wait_full_draw(&mut display, &mut surface, Duration::from_secs(20), 10_000)
            .unwrap_or_else(|e| panic!("display {id}: first picture: {e}"));
        drain_until_quiet(&mut display, &mut surface, QUIET, Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("display {id}: settling: {e}"));
        let mine = surface.image().expect("client surface");
        assert_same_image(&format!("display {id}"), &server.screendump_of(id), &mine);
        channels.push((display, surface));
    }
    assert!(
        server.screendump_of(0) != server.screendump_of(1),
        "both displays show the same desktop"
    );
    match session.open_display(2) {
        Err(ClientError::LinkRefused(_)) => {}
        other => panic!("display 2 was not refused: {:?}", other.map(|_| ())),
    }
    let refused = server
        .ctl(&["screendump", "--display", "2", "/dev/null"])
        .expect("ctl runs");
    assert!(
        !refused.success() && refused.describe().contains("no display 2"),
        "screendump of a missing display: {}",
        refused.describe()
    );

    // A new worker for display 1 redraws display 1, and nothing else.
    let first_pid = worker_pid(&server, "display");
    let second_pid = worker_pid(&server, "display-1");
    assert_ne!(first_pid, second_pid, "one process per display");
    server.ctl_ok(&["restart-worker", "display-1"]);
    let [(display0, surface0), (display1, surface1)] = &mut channels[..] else {
        unreachable!("two channels were opened");
    };
    let types = drain_until_quiet(
        display1,
        surface1,
        Duration::from_secs(2),
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("display 1 after its restart: {e}"));
    assert!(
        types.contains(&MSG_DISPLAY_DRAW_COPY),
        "display 1 was redrawn after its restart: {types:?}"
    );
    assert_same_image(
        "display 1 after its restart",
        &server.screendump_of(1),
        &surface1.image().expect("surface"),
    );
    let types = drain_until_quiet(display0, surface0, QUIET, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("display 0 during display 1's restart: {e}"));
    assert!(
        types.is_empty(),
        "display 0 heard of display 1's restart: {types:?}"
    );
    assert_eq!(worker_pid(&server, "display"), first_pid);
    assert_ne!(worker_pid(&server, "display-1"), second_pid);
}

/// spicy links both displays and spice-gtk builds display 1's picture:
/// its primary surface at the demo's size, its monitor, its MARK (read
/// from spice-gtk's debug log). Under Xvfb spicy leaves both windows
/// unpainted once there are two displays, so this test cannot compare
/// pixels; the test above does, through the Rust client.
#[test]
fn a_real_client_links_and_builds_the_second_display() {
    let server = Server::start(&["--disable-ticketing", "--demo-freeze", "--displays", "2"]);
    let live = LiveClient::start(server.port(), &["--spice-debug"])
        .unwrap_or_else(|e| panic!("cannot run the live client: {e}"));
    let dump = server.screendump_of(1);
    let want = [
        "display-2:1: Create primary canvas".to_string(),
        format!(
            "display-2:1: monitor id: 0, surface id: 0, +0+0-{}x{}",
            dump.width, dump.height
        ),
        "display-2:1: display_handle_mark".to_string(),
        "cursor-4:1: channel up".to_string(),
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = live.spicy_log_full();
        let missing: Vec<&String> = want.iter().filter(|w| !log.contains(w.as_str())).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "spice-gtk never logged {missing:?}; spicy's log ends:\n{}",
            live.spicy_log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let linked = server.log_lines_with("channel up");
    for channel in ["channel=\"display\" id=1", "channel=\"cursor\" id=1"] {
        assert!(
            linked.iter().any(|l| l.contains(channel)),
            "spicy did not link {channel}: {linked:#?}"
        );
    }
}
