//! The optional record of every input event the host received, one JSON
//! object per line, in arrival order. Tests compare it with what a client
//! sent, so each line is written (one `write` call, unbuffered) before the
//! event is applied.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use spicebox_ipc::InputEvent;

use crate::error::VdiError;

/// An append-only JSON-lines file.
pub(crate) struct InputLog {
    path: PathBuf,
    file: File,
}

impl InputLog {
    /// Opens (creating if needed) `path` for appending.
    pub(crate) fn open(path: &Path) -> Result<InputLog, VdiError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| VdiError::InputLog {
                path: path.to_owned(),
                source,
            })?;
        Ok(InputLog {
            path: path.to_owned(),
            file,
        })
    }

    /// Appends one event.
    pub(crate) fn record(&mut self, session: u32, event: &InputEvent) -> Result<(), VdiError> {
        let line = json_line(session, event);
        self.file
            .write_all(line.as_bytes())
            .map_err(|source| VdiError::InputLog {
                path: self.path.clone(),
                source,
            })
    }
}

/// The JSON line for one event. Every field is a number or a bool, so no
/// escaping is needed.
pub(crate) fn json_line(session: u32, event: &InputEvent) -> String {
    let body = match *event {
        InputEvent::Key { code, pressed } => {
            format!(r#""event":"key","code":{code},"pressed":{pressed}"#)
        }
        InputEvent::PointerMotion { dx, dy } => format!(r#""event":"motion","dx":{dx},"dy":{dy}"#),
        InputEvent::PointerPosition { x, y, display } => {
            format!(r#""event":"position","x":{x},"y":{y},"display":{display}"#)
        }
        InputEvent::Button { button, pressed } => {
            format!(r#""event":"button","button":{button},"pressed":{pressed}"#)
        }
        InputEvent::LockState { modifiers } => {
            format!(r#""event":"lock_state","modifiers":{modifiers}"#)
        }
    };
    format!("{{\"session\":{session},{body}}}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_the_documented_format() {
        let cases = [
            (
                InputEvent::Key {
                    code: 30,
                    pressed: true,
                },
                r#"{"session":7,"event":"key","code":30,"pressed":true}"#,
            ),
            (
                InputEvent::PointerMotion { dx: -3, dy: 4 },
                r#"{"session":7,"event":"motion","dx":-3,"dy":4}"#,
            ),
            (
                InputEvent::PointerPosition {
                    x: 10,
                    y: 20,
                    display: 0,
                },
                r#"{"session":7,"event":"position","x":10,"y":20,"display":0}"#,
            ),
            (
                InputEvent::Button {
                    button: 1,
                    pressed: false,
                },
                r#"{"session":7,"event":"button","button":1,"pressed":false}"#,
            ),
            (
                InputEvent::LockState { modifiers: 2 },
                r#"{"session":7,"event":"lock_state","modifiers":2}"#,
            ),
        ];
        for (event, expected) in cases {
            assert_eq!(json_line(7, &event), format!("{expected}\n"));
        }
    }
}
