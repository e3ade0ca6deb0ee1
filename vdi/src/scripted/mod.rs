//! Scripted test scenes (`spicebox --demo-scene NAME`): fixed sequences of
//! display updates that end-to-end tests replay through real clients.
//!
//! With a scene set, the host shows the frozen desktop and ignores input,
//! except that the first key press starts the scene (so a test can connect
//! its clients first). Then it plays one step per frame period: each step
//! paints into the picture and reports exactly its rectangles as damage.
//! After the last step it holds the final picture and logs
//! `scene finished` once.
//!
//! Scenes ([`SCENES`]): `edges` ([`edges`]), `glz-slide` ([`glz_slide`]),
//! `cache` ([`cache`]) and `alpha` ([`alpha`], the only one whose
//! framebuffer is ARGB). Every pixel is a pure function of the scene and
//! the screen size.

pub mod alpha;
pub mod cache;
pub mod edges;
pub mod glz_slide;
mod paint;
mod player;

#[cfg(test)]
mod tests;

use spicebox_shm::{PixelFormat, Rect};

use self::glz_slide::GlzSlide;
use self::paint::{blit, Paint};
use crate::draw::canvas::BPP;

pub(crate) use self::player::play;

/// The names `--demo-scene` accepts.
pub const SCENES: [&str; 4] = ["edges", "glz-slide", "cache", "alpha"];

/// Why a scene cannot be played.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SceneError {
    /// No scene has this name.
    #[error("unknown demo scene {0:?} (known: edges, glz-slide, cache, alpha)")]
    Unknown(String),
    /// The screen is too small for the scene's layout.
    #[error("demo scene {scene} does not fit on a {width}x{height} screen")]
    DoesNotFit {
        /// The scene.
        scene: &'static str,
        /// Screen width.
        width: u32,
        /// Screen height.
        height: u32,
    },
}

/// How a scene makes its steps.
enum Script {
    /// A list of paints per step.
    Plan(Vec<Vec<Paint>>),
    /// Full frames of a scrolling page.
    Slide(GlzSlide),
}

/// A scene being played over a picture.
pub struct Scene {
    name: &'static str,
    width: u32,
    height: u32,
    /// B,G,R,X rows of `width * 4` bytes (B,G,R,A in [`PixelFormat::Argb32`]).
    frame: Vec<u8>,
    format: PixelFormat,
    script: Script,
    next: usize,
}

/// Checks that scene `name` exists and fits a `width` x `height` screen,
/// without rendering anything.
pub fn check(name: &str, width: u32, height: u32) -> Result<(), SceneError> {
    match name {
        "edges" => edges::plan(width, height).map(|_| ()),
        "cache" => fits("cache", cache::MIN_SIZE, width, height),
        "alpha" => fits("alpha", alpha::MIN_SIZE, width, height),
        // Frames are whole screens: any size the demo accepts works.
        "glz-slide" => Ok(()),
        other => Err(SceneError::Unknown(other.to_owned())),
    }
}

fn fits(scene: &'static str, min: (u32, u32), width: u32, height: u32) -> Result<(), SceneError> {
    if width < min.0 || height < min.1 {
        return Err(SceneError::DoesNotFit {
            scene,
            width,
            height,
        });
    }
    Ok(())
}

impl Scene {
    /// Scene `name` on a `width` x `height` screen that shows `first`
    /// (B,G,R,X rows) before the scene starts.
    pub fn new(name: &str, width: u32, height: u32, first: &[u8]) -> Result<Scene, SceneError> {
        check(name, width, height)?;
        let (name, script) = match name {
            "edges" => ("edges", Script::Plan(edges::plan(width, height)?)),
            "cache" => ("cache", Script::Plan(cache::steps())),
            "alpha" => ("alpha", Script::Plan(alpha::plan(width, height))),
            "glz-slide" => ("glz-slide", Script::Slide(GlzSlide::new(width, height))),
            other => return Err(SceneError::Unknown(other.to_owned())),
        };
        let mut frame = vec![0; width as usize * height as usize * BPP];
        if let Some(src) = first.get(..frame.len()) {
            frame.copy_from_slice(src);
        }
        let format = if name == "alpha" {
            // The desktop shown before the scene starts is opaque.
            for px in frame.chunks_exact_mut(BPP) {
                px[3] = 0xff;
            }
            PixelFormat::Argb32
        } else {
            PixelFormat::Xrgb32
        };
        Ok(Scene {
            name,
            width,
            height,
            frame,
            format,
            script,
            next: 0,
        })
    }

    /// The scene's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Number of steps.
    pub fn steps(&self) -> usize {
        match &self.script {
            Script::Plan(steps) => steps.len(),
            Script::Slide(_) => glz_slide::FRAMES,
        }
    }

    /// Steps played so far.
    pub fn played(&self) -> usize {
        self.next
    }

    /// The picture: B,G,R,X rows of `width * 4` bytes, X = 0 (B,G,R,A
    /// when [`Scene::format`] has alpha).
    pub fn frame(&self) -> &[u8] {
        &self.frame
    }

    /// What the fourth byte of the picture's pixels means.
    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// Screen width.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Screen height.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Plays the next step; returns exactly the rectangles it painted, or
    /// `None` once every step has been played.
    pub fn step(&mut self) -> Option<Vec<Rect>> {
        let rects = match &self.script {
            Script::Plan(steps) => {
                let paints = steps.get(self.next)?;
                for p in paints {
                    blit(&mut self.frame, self.width, &p.rect, &p.render());
                }
                paints.iter().map(|p| p.rect).collect()
            }
            Script::Slide(slide) => slide.paint(self.next, &mut self.frame)?,
        };
        self.next += 1;
        Some(rects)
    }
}
