//! The memfd-backed region the host (producer) shares with the display
//! worker (consumer): a framebuffer, a ring of damage/mode/cursor records, the
//! current cursor shape, and an eventfd doorbell.
//!
//! The supervisor creates the region with [`create_region`] and hands the
//! descriptor to both sides. The consumer treats the producer as hostile:
//! see [`Consumer`]. The byte layout is described in [`layout`].

#![warn(missing_docs)]

mod consumer;
mod cursor;
mod doorbell;
mod error;
mod events;
mod header;
pub mod layout;
mod mapping;
mod mode;
mod producer;
mod region;
mod ring;
mod seqlock;
mod serial;

pub use consumer::Consumer;
pub use doorbell::Doorbell;
pub use error::ShmError;
pub use events::{CursorImage, Event, Mode, PixelFormat, Rect};
pub use layout::ShmLayout;
pub use producer::Producer;
pub use region::create_region;

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod round_trip_tests;
#[cfg(test)]
mod test_support;
