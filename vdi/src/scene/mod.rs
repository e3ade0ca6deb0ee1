//! The parts of the demo picture, each owning its state and drawing itself
//! inside a clip rectangle.

pub(crate) mod background;
pub(crate) mod base;
pub(crate) mod keymap;
pub(crate) mod layout;
pub(crate) mod loggen;
pub(crate) mod photo;
pub(crate) mod pointer;
pub(crate) mod shell;
pub(crate) mod status;
pub(crate) mod terminal;
pub(crate) mod text_line;
pub(crate) mod video;
pub(crate) mod window;
