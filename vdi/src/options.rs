//! What the demo desktop is asked to show.

use std::path::PathBuf;

use crate::error::VdiError;

/// Smallest screen the layout is designed for.
pub const MIN_SIZE: (u32, u32) = (320, 200);
/// Largest screen (the default shared-memory maximum).
pub const MAX_SIZE: (u32, u32) = (4096, 2160);
/// Highest frame rate accepted.
pub const MAX_FPS: u32 = 240;

/// Settings of the demo desktop host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoOptions {
    /// Screen width in pixels.
    pub width: u32,
    /// Screen height in pixels.
    pub height: u32,
    /// Seeds everything random in the picture.
    pub seed: u64,
    /// Keep the initial picture; only input changes it.
    pub freeze: bool,
    /// Append every received input event to this file as a JSON line.
    pub input_log: Option<PathBuf>,
    /// Animation frames per second.
    pub fps: u32,
    /// Test scene played over the frozen desktop after the first key press
    /// (see [`crate::scripted`]); input then never changes the picture.
    pub scene: Option<String>,
}

impl Default for DemoOptions {
    /// 1280x800, seed 1, animated, no input log, 30 fps.
    fn default() -> Self {
        DemoOptions {
            width: 1280,
            height: 800,
            seed: 1,
            freeze: false,
            input_log: None,
            fps: 30,
            scene: None,
        }
    }
}

impl DemoOptions {
    /// Checks the size, the frame rate and the scene.
    pub fn validate(&self) -> Result<(), VdiError> {
        let size_ok = (MIN_SIZE.0..=MAX_SIZE.0).contains(&self.width)
            && (MIN_SIZE.1..=MAX_SIZE.1).contains(&self.height);
        if !size_ok {
            return Err(VdiError::InvalidSize {
                width: self.width,
                height: self.height,
            });
        }
        if !(1..=MAX_FPS).contains(&self.fps) {
            return Err(VdiError::InvalidFps(self.fps));
        }
        if let Some(name) = &self.scene {
            crate::scripted::check(name, self.width, self.height)?;
        }
        Ok(())
    }
}
