//! The part of QEMU's `org.qemu.Display1` interfaces spicebox calls, on
//! the bus QEMU joined (`-display dbus,addr=…`) or on a peer-to-peer
//! connection from QMP (`p2p=yes`), where QEMU ignores the destination
//! name the proxies carry. Signatures as QEMU 7.2 exports them (see
//! docs/qemu.md).

use zbus::proxy;
use zbus::zvariant::Fd;

/// `org.qemu.Display1.VM` at `/org/qemu/Display1/VM`.
#[proxy(
    interface = "org.qemu.Display1.VM",
    default_service = "org.qemu",
    default_path = "/org/qemu/Display1/VM",
    gen_blocking = false
)]
pub(crate) trait Vm {
    /// The VM's name (`-name`), or QEMU's version without one.
    #[zbus(property)]
    fn name(&self) -> zbus::Result<String>;

    /// The numbers of the VM's consoles (`Console_N`), graphic and text.
    #[zbus(property, name = "ConsoleIDs")]
    fn console_ids(&self) -> zbus::Result<Vec<u32>>;
}

/// `org.qemu.Display1.Console` at `/org/qemu/Display1/Console_N` (see
/// [`console_path`]).
#[proxy(
    interface = "org.qemu.Display1.Console",
    default_service = "org.qemu",
    default_path = "/org/qemu/Display1/Console_0",
    gen_blocking = false
)]
pub(crate) trait Console {
    /// Hands QEMU one end of a socket pair; QEMU then calls the
    /// `Listener` interface on it (as the D-Bus server of that link).
    fn register_listener(&self, listener: Fd<'_>) -> zbus::Result<()>;

    /// The guest's current width.
    #[zbus(property)]
    fn width(&self) -> zbus::Result<u32>;

    /// The guest's current height.
    #[zbus(property)]
    fn height(&self) -> zbus::Result<u32>;

    /// `Graphic` (a display device's head) or `Text` (a `vc` chardev).
    #[zbus(property, name = "Type")]
    fn kind(&self) -> zbus::Result<String>;
}

/// `org.qemu.Display1.Keyboard` on the console's object.
#[proxy(
    interface = "org.qemu.Display1.Keyboard",
    default_service = "org.qemu",
    default_path = "/org/qemu/Display1/Console_0",
    gen_blocking = false
)]
pub(crate) trait Keyboard {
    /// Presses the key with QEMU key number `qnum`.
    fn press(&self, qnum: u32) -> zbus::Result<()>;

    /// Releases the key with QEMU key number `qnum`.
    fn release(&self, qnum: u32) -> zbus::Result<()>;

    /// The guest's lock LEDs: Scroll 1, Num 2, Caps 4.
    #[zbus(property)]
    fn modifiers(&self) -> zbus::Result<u32>;
}

/// `org.qemu.Display1.Mouse` on the console's object.
#[proxy(
    interface = "org.qemu.Display1.Mouse",
    default_service = "org.qemu",
    default_path = "/org/qemu/Display1/Console_0",
    gen_blocking = false
)]
pub(crate) trait Mouse {
    /// Presses a button (QEMU numbering, see `input::dbus_button`).
    fn press(&self, button: u32) -> zbus::Result<()>;

    /// Releases a button.
    fn release(&self, button: u32) -> zbus::Result<()>;

    /// Moves an absolute pointer (a tablet) to `(x, y)` on the console.
    fn set_abs_position(&self, x: u32, y: u32) -> zbus::Result<()>;

    /// Moves a relative pointer (a PS/2 mouse) by `(dx, dy)`.
    fn rel_motion(&self, dx: i32, dy: i32) -> zbus::Result<()>;

    /// Whether the guest's pointer is absolute (a USB tablet is bound).
    #[zbus(property)]
    fn is_absolute(&self) -> zbus::Result<bool>;
}

/// `org.qemu.Display1.Audio` at `/org/qemu/Display1/Audio`: only there
/// when `-display dbus` names an `-audiodev dbus` (`audiodev=ID`).
#[proxy(
    interface = "org.qemu.Display1.Audio",
    default_service = "org.qemu",
    default_path = "/org/qemu/Display1/Audio",
    gen_blocking = false
)]
pub(crate) trait Audio {
    /// Hands QEMU one end of a socket pair; QEMU then calls the
    /// `AudioOutListener` interface on it (as the D-Bus server of that
    /// link).
    fn register_out_listener(&self, listener: Fd<'_>) -> zbus::Result<()>;
}

/// `org.qemu.Display1.Chardev` at `/org/qemu/Display1/Chardev_<id>`, one
/// per `-chardev dbus,id=<id>,name=…`.
#[proxy(
    interface = "org.qemu.Display1.Chardev",
    default_service = "org.qemu",
    gen_blocking = false
)]
pub(crate) trait Chardev {
    /// Whether the guest has its side open (the agent's port: the agent
    /// runs).
    #[zbus(property, name = "FEOpened")]
    fn fe_opened(&self) -> zbus::Result<bool>;
}

/// Where QEMU exports console `id`.
pub(crate) fn console_path(id: u32) -> String {
    format!("/org/qemu/Display1/Console_{id}")
}
