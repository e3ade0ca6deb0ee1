//! Host side of spicebox: the built-in demo desktop, the machine spicebox
//! serves when nothing else is configured, [`x11`], which shares an
//! existing X display, and [`qemu`], which serves a QEMU VM through its
//! D-Bus display.
//!
//! [`DemoDesktop`] is the pure picture and input state; [`run`] is the host
//! process loop that publishes it through `spicebox-shm` and takes input
//! from the supervisor over `spicebox-ipc`. [`scripted`] holds the test
//! scenes `--demo-scene` plays instead of the desktop's own changes.

#![warn(missing_docs)]

mod damage;
mod desktop;
mod draw;
mod error;
mod gone;
mod host;
mod input_log;
mod options;
pub mod qemu;
mod scene;
pub mod scripted;
pub mod x11;

pub use desktop::{CursorShape, DemoDesktop};
pub use error::VdiError;
pub use host::{run, run_displays};
pub use options::{DemoOptions, MAX_FPS, MAX_SIZE, MIN_SIZE};

#[cfg(test)]
mod desktop_tests;
#[cfg(test)]
mod host_tests;
