//! End-to-end test support for spicebox.
//!
//! * [`harness`] starts a `spicebox` server on a free loopback port with its own
//!   control socket and log file, talks to it through `spicebox ctl`, runs the
//!   real `spicy-screenshot` client, and compares pictures.
//! * [`client`] is a small SPICE client written for tests: the link stage with
//!   RSA-OAEP tickets, mini/full headers, ACK windows, PING answers, and a
//!   [`client::Session`] that opens a main channel and then further channels.
//! * [`live_client`] keeps a real `spicy` connected in its own Xvfb while a
//!   test plays a sequence of updates, and captures what it decoded,
//!   pixel-exact.
//! * [`throttle`] is a loopback proxy that slows the server-to-client
//!   direction: a slow link without changing the machine's network.
//! * [`watch`] keeps a bystander session open and read on a thread, so tests
//!   can check that it survives other clients misbehaving.
//!
//! The client encodes every message itself, byte by byte from the SPICE
//! specification, instead of using the server's `spicebox-protocol` crate: a
//! mistake in that crate then shows up as a failing test instead of being
//! shared by both ends. `client::tests` cross-checks the client's constants
//! against `spicebox-protocol` so the two cannot drift apart silently.

pub mod client;
pub mod ending;
pub mod harness;
pub mod image;
pub mod live_client;
pub mod scene;
pub mod throttle;
pub mod watch;
