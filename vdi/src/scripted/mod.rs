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
//! Scenes ([`SCENES`]): `edges` ([`edges`]), `glz-slide` ([`glz_slide`])
//! and `cache` ([`cache`]). Every pixel is a pure function of the scene and
//! the screen size.

pub mod cache;
pub mod edges;
pub mod glz_slide;
mod paint;
mod player;

#[cfg(test)]
mod tests;

use spicebox_shm::Rect;

use self::glz_slide::GlzSlide;
use self::paint::{blit, Paint};
use crate::draw::canvas::BPP;

pub(crate) use self::player::play;

/// The names `--demo-scene` accepts.
pub const SCENES: [&str; 3] = ["edges", "glz-slide", "cache"];

/// Why a scene cannot be played.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SceneError {
    /// No scene has this name.
    #[error("unknown demo scene {0:?} (known: edges, glz-slide, cache)")]
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
    /// B,G,R,X rows of `width * 4` bytes.
    frame: Vec<u8>,
    script: Script,
    next: usize,
}

/// Checks that scene `name` exists and fits a `width` x `height` screen,
/// without rendering anything.
pub fn check(name: &str, width: u32, height: u32) -> Result<(), SceneError> {
    match name {
        "edges" => edges::plan(width, height).map(|_| ()),
        "cache" => cache_fits(width, height),
        // Frames are whole screens: any size the demo accepts works.
        "glz-slide" => Ok(()),
        other => Err(SceneError::Unknown(other.to_owned())),
    }
}

fn cache_fits(width: u32, height: u32) -> Result<(), SceneError> {
    if width < cache::MIN_SIZE.0 || height < cache::MIN_SIZE.1 {
        return Err(SceneError::DoesNotFit {
            scene: "cache",
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
            "glz-slide" => ("glz-slide", Script::Slide(GlzSlide::new(width, height))),
            other => return Err(SceneError::Unknown(other.to_owned())),
        };
        let mut frame = vec![0; width as usize * height as usize * BPP];
        if let Some(src) = first.get(..frame.len()) {
            frame.copy_from_slice(src);
        }
        Ok(Scene {
            name,
            width,
            height,
            frame,
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

    /// The picture: B,G,R,X rows of `width * 4` bytes, X = 0.
    pub fn frame(&self) -> &[u8] {
        &self.frame
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
                    let pixels = p.fill.render(p.rect.width, p.rect.height);
                    blit(&mut self.frame, self.width, &p.rect, &pixels);
                }
                paints.iter().map(|p| p.rect).collect()
            }
            Script::Slide(slide) => slide.paint(self.next, &mut self.frame)?,
        };
        self.next += 1;
        Some(rects)
    }
}
