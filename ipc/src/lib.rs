//! Typed messages between the supervisor, the channel workers and the host.
//!
//! Every process pair talks over one connected local socket (a `socketpair`
//! made by the supervisor and inherited at spawn), wrapped in `interprocess`
//! streams. Each frame is a little-endian `u32` length followed by one
//! bincode-encoded message; the length is capped so that a compromised peer
//! cannot make the other side allocate without bound.

pub mod frame;
pub mod messages;
pub mod pair;

pub use frame::{AsyncReceiver, AsyncSender, IpcError, SyncReceiver, SyncSender, MAX_FRAME_SIZE};
pub use messages::*;
pub use pair::{socket_pair, split_async, split_sync};
