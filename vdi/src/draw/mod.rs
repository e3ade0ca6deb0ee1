//! Pixel-level drawing helpers shared by every part of the scene.

pub(crate) mod canvas;
pub(crate) mod color;
pub(crate) mod font;
pub(crate) mod geom;
pub(crate) mod noise;
pub(crate) mod rng;
pub(crate) mod shapes;
pub(crate) mod sprite;
