//! Prints the message types a display channel receives in its first second.
use std::time::{Duration, Instant};
fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("port");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let s = spicebox_tests::client::Session::connect(addr, "").expect("session");
    let mut d = s.open_display(0).expect("display");
    let end = Instant::now() + Duration::from_millis(1500);
    let mut seen = Vec::new();
    while Instant::now() < end {
        if let Ok((t, b)) = d.recv(Duration::from_millis(100)) {
            seen.push((t, b.len()));
        }
    }
    println!("{seen:?}");
}
