//! SPICE wire format for spicebox: link stage, message headers and the channel
//! messages a server sends and receives.
//!
//! The crate is sans-I/O: it turns bytes into typed messages and back, and
//! never touches sockets, threads or clocks. Every parser bounds-checks every
//! byte and reports a [`WireError`] instead of panicking.
//!
//! Server→client marshallers return message *bodies*; frame them with
//! [`header::frame`] or [`MsgHeader::write`].

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod caps;
pub mod common;
pub mod consts;
pub mod cursor;
pub mod display;
pub mod header;
pub mod inputs;
pub mod link;
pub mod main_channel;
pub mod wire;

pub use caps::Caps;
pub use common::AckWindow;
pub use consts::{ChannelType, LinkErr};
pub use header::{HeaderKind, MsgHeader};
pub use link::{LinkHeader, LinkMess, LinkReply};
pub use wire::{Reader, WireError, Writer};
