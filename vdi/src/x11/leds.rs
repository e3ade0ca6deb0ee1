//! The keyboard lock LEDs of the X display, read through XKB's named
//! indicators, so that the client's Caps/Num/Scroll Lock lights follow
//! the X session's.
//!
//! Indicators are looked up by name ("Caps Lock", …) rather than by index:
//! the index is keymap-dependent, the name is what every keymap uses.

use x11rb::connection::RequestConnection;
use x11rb::protocol::xkb::{self, ConnectionExt as _, LedClass, ID};
use x11rb::protocol::xproto::{Atom, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;

use super::error::X11Error;

/// SPICE keyboard modifier flags.
const SCROLL: u16 = 1;
const NUM: u16 = 2;
const CAPS: u16 = 4;

/// The three named indicators and the SPICE flag of each.
pub(crate) struct Leds {
    indicators: Vec<(Atom, u16)>,
}

impl Leds {
    /// Looks the indicators up; None when the server has no XKB (the
    /// client's LEDs then stay as they are).
    pub(crate) fn new(conn: &RustConnection) -> Result<Option<Leds>, X11Error> {
        if conn
            .extension_information(xkb::X11_EXTENSION_NAME)?
            .is_none()
        {
            return Ok(None);
        }
        if !conn.xkb_use_extension(1, 0)?.reply()?.supported {
            return Ok(None);
        }
        let mut indicators = Vec::new();
        for (name, flag) in [
            (&b"Caps Lock"[..], CAPS),
            (b"Num Lock", NUM),
            (b"Scroll Lock", SCROLL),
        ] {
            let atom = conn.intern_atom(false, name)?.reply()?.atom;
            indicators.push((atom, flag));
        }
        Ok(Some(Leds { indicators }))
    }

    /// The lit indicators as SPICE modifier flags.
    pub(crate) fn read(&self, conn: &RustConnection) -> Result<u16, X11Error> {
        // Send every request before waiting: one round trip for all three.
        let cookies = self
            .indicators
            .iter()
            .map(|&(atom, flag)| {
                let cookie = conn.xkb_get_named_indicator(
                    ID::USE_CORE_KBD.into(),
                    LedClass::DFLT_XI_CLASS,
                    ID::DFLT_XI_ID,
                    atom,
                )?;
                Ok((cookie, flag))
            })
            .collect::<Result<Vec<_>, X11Error>>()?;
        let mut flags = 0;
        for (cookie, flag) in cookies {
            let reply = cookie.reply()?;
            if reply.found && reply.on {
                flags |= flag;
            }
        }
        Ok(flags)
    }
}
