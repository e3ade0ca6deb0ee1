//! The closed set of messages that cross process borders.
//!
//! The supervisor never interprets a channel message body: it hands the worker
//! the message type and bytes, and writes back whatever whole messages the
//! worker asks it to send. Input events are translated by the inputs worker
//! into host-neutral [`InputEvent`]s before they reach the host.

use bincode::{Decode, Encode};

/// Identifies one client channel connection inside the supervisor.
pub type ConnId = u64;

/// The kind of worker process. Each role serves every connection of its
/// channel types for the machine the supervisor serves.
#[derive(Encode, Decode, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkerRole {
    /// Display and cursor channels.
    Display,
    /// Inputs channel.
    Inputs,
}

impl WorkerRole {
    /// The name used on command lines, in logs and in `ctl status`.
    pub fn name(self) -> &'static str {
        match self {
            WorkerRole::Display => "display",
            WorkerRole::Inputs => "inputs",
        }
    }

    /// Parses the command-line name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "display" => Some(WorkerRole::Display),
            "inputs" => Some(WorkerRole::Inputs),
            _ => None,
        }
    }

    /// The worker role that owns a SPICE channel type, if any.
    pub fn for_channel_type(channel_type: u8) -> Option<Self> {
        match channel_type {
            2 | 4 => Some(WorkerRole::Display),
            3 => Some(WorkerRole::Inputs),
            _ => None,
        }
    }
}

/// What the supervisor learnt about a channel during its link stage.
#[derive(Encode, Decode, Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// The session (connection id) the channel belongs to.
    pub session_id: u32,
    /// SPICE channel type.
    pub channel_type: u8,
    /// SPICE channel instance.
    pub channel_id: u8,
    /// Capability words the client announced, common set.
    pub common_caps: Vec<u32>,
    /// Capability words the client announced, channel set.
    pub channel_caps: Vec<u32>,
    /// Capability words the server announced for this channel.
    pub server_channel_caps: Vec<u32>,
    /// The client's address, for logs.
    pub peer: String,
}

/// One whole SPICE message body for the supervisor to frame and send.
#[derive(Encode, Decode, Debug, Clone, PartialEq, Eq)]
pub struct OutMessage {
    /// SPICE message type.
    pub msg_type: u16,
    /// Message body, without any header.
    pub body: Vec<u8>,
}

/// A picture of the primary surface, rows of B,G,R,X.
#[derive(Encode, Decode, Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 4` bytes, rows packed, top row first.
    pub pixels: Vec<u8>,
}

/// Input from a client, translated for the host.
#[derive(Encode, Decode, Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputEvent {
    /// A key press or release. `code` is the PC/XT set-1 scancode: plain
    /// codes 0x01..=0x7f, `0xe000 | code` for e0-prefixed keys, 0xe11d for
    /// Pause.
    Key {
        /// Scancode as described above.
        code: u16,
        /// Press (true) or release (false).
        pressed: bool,
    },
    /// Relative pointer motion (server mouse mode).
    PointerMotion {
        /// Horizontal delta.
        dx: i32,
        /// Vertical delta.
        dy: i32,
    },
    /// Absolute pointer position (client mouse mode).
    PointerPosition {
        /// Horizontal position on the display.
        x: u32,
        /// Vertical position on the display.
        y: u32,
        /// Display (monitor) the position refers to.
        display: u8,
    },
    /// A pointer button changed. `button` uses SPICE numbering (left 1,
    /// middle 2, right 3, wheel up 4, wheel down 5, side 6, extra 7).
    Button {
        /// SPICE button number.
        button: u8,
        /// Press (true) or release (false).
        pressed: bool,
    },
    /// The client's lock-key state (SPICE modifier flags: scroll 1, num 2,
    /// caps 4), sent when the client's keyboard state should be mirrored.
    LockState {
        /// SPICE keyboard modifier flags.
        modifiers: u16,
    },
}

/// Supervisor → worker.
#[derive(Encode, Decode, Debug, Clone, PartialEq, Eq)]
pub enum ToWorker {
    /// A client channel finished its link stage and is now served by this
    /// worker.
    ChannelOpened {
        /// Connection handle used in every later message.
        conn: ConnId,
        /// What the link stage negotiated.
        info: ChannelInfo,
        /// Set when a restarted worker takes over a channel that a previous
        /// worker served: what the client already has.
        resume: Option<ResumeState>,
    },
    /// One whole message from the client, already framed off its header.
    ClientMessage {
        /// Connection it came from.
        conn: ConnId,
        /// SPICE message type.
        msg_type: u16,
        /// Body bytes, unparsed.
        body: Vec<u8>,
    },
    /// The client connection is gone.
    ChannelClosed {
        /// Connection that closed.
        conn: ConnId,
    },
    /// The host reported its keyboard LEDs (SPICE modifier flags).
    HostLeds {
        /// SPICE keyboard modifier flags.
        modifiers: u16,
    },
    /// Asks the display worker for the primary surface as it holds it.
    Screendump {
        /// Echoed in the answer.
        request: u64,
    },
    /// The session's main channel measured its link: JPEG and ZLIB_GLZ set
    /// to `auto` apply to low-bandwidth links only.
    SessionLink {
        /// The session (connection id of its main channel).
        session_id: u32,
        /// Below the low-bandwidth threshold.
        low_bandwidth: bool,
    },
    /// Image compression changed at run time; applies from the next image.
    SetCompression {
        /// The mode, by its QEMU name (`auto_glz`, `lz4`, `off`, …).
        mode: String,
    },
    /// Test-only: makes the worker misbehave on purpose. Honoured only by a
    /// worker started with test hooks enabled; ignored (and logged) otherwise.
    InjectFault {
        /// What to do.
        fault: Fault,
    },
}

/// Faults a test can inject into a worker started with test hooks.
#[derive(Encode, Decode, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Call a system call outside the worker's seccomp allow-list.
    ForbiddenSyscall,
}

/// A primary surface as the client created it.
#[derive(Encode, Decode, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurfaceState {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Created as 32-bit ARGB (else 32-bit xRGB).
    pub alpha: bool,
}

/// What a client already holds on a channel, kept by the supervisor so that
/// a replacement worker can continue where a dead one stopped.
#[derive(Encode, Decode, Debug, Clone, PartialEq, Eq)]
pub enum ResumeState {
    /// Display channel.
    Display {
        /// The client sent DISPLAY_INIT (pixmap cache size, GLZ window).
        init: Option<DisplayInitState>,
        /// The primary surface the client has, if any.
        surface: Option<SurfaceState>,
        /// The client has seen MARK.
        marked: bool,
        /// ACK generation last announced with SET_ACK.
        ack_generation: u32,
        /// The client's PREFERRED_COMPRESSION (`SpiceImageCompression`),
        /// if it sent one since the last server-wide change.
        preferred_compression: Option<u8>,
        /// The id the next GLZ image would have taken, when the client
        /// decodes GLZ: a new worker continues past it.
        glz_next_id: Option<u64>,
    },
    /// Cursor channel.
    Cursor {
        /// ACK generation last announced with SET_ACK.
        ack_generation: u32,
    },
    /// Inputs channel.
    Inputs,
}

/// The client's DISPLAY_INIT parameters.
#[derive(Encode, Decode, Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisplayInitState {
    /// Pixmap cache id.
    pub pixmap_cache_id: u8,
    /// Pixmap cache size in pixels.
    pub pixmap_cache_size: i64,
    /// GLZ dictionary id.
    pub glz_dictionary_id: u8,
    /// GLZ window size in pixels.
    pub glz_window_size: i32,
}

/// Worker → supervisor.
#[derive(Encode, Decode, Debug, Clone, PartialEq, Eq)]
pub enum FromWorker {
    /// Whole messages to frame and write to a client connection, in order.
    Send {
        /// Destination connection.
        conn: ConnId,
        /// Messages, in sending order.
        messages: Vec<OutMessage>,
        /// What the client holds once it has these messages, when that
        /// changed: carried in the same frame so that a worker dying right
        /// after sending cannot leave the supervisor with an older state
        /// (a replacement would then repeat ids the client already has).
        state: Option<ResumeState>,
    },
    /// The worker refuses to go on with this connection.
    CloseChannel {
        /// Connection to close.
        conn: ConnId,
        /// Why, for the log.
        reason: String,
    },
    /// Input for the host, already validated and translated.
    Input {
        /// Session the input came from.
        session_id: u32,
        /// The event.
        event: InputEvent,
    },
    /// The negotiated state of a channel changed; the supervisor keeps the
    /// latest for a replacement worker.
    ChannelState {
        /// The channel.
        conn: ConnId,
        /// What the client now holds.
        state: ResumeState,
    },
    /// Answer to [`ToWorker::Screendump`].
    Screendump {
        /// The request this answers.
        request: u64,
        /// The picture, or why there is none.
        result: Result<Frame, String>,
    },
}

/// Supervisor → host.
#[derive(Encode, Decode, Debug, Clone, PartialEq, Eq)]
pub enum ToHost {
    /// Client input to apply.
    Input {
        /// Session the input came from.
        session_id: u32,
        /// The event.
        event: InputEvent,
    },
}

/// Host → supervisor.
#[derive(Encode, Decode, Debug, Clone, PartialEq, Eq)]
pub enum FromHost {
    /// The host's keyboard LED state changed (SPICE modifier flags).
    Leds {
        /// SPICE keyboard modifier flags.
        modifiers: u16,
    },
    /// The machine the host had been showing went away (the X server or
    /// QEMU exited). The host shows its "gone" picture and waits for the
    /// machine to come back; the supervisor decides whether the sessions
    /// wait with it or end (`--on-host-exit`).
    MachineGone {
        /// What went and why, for the log.
        reason: String,
    },
    /// The machine opened an audio output stream (QEMU: `AudioOutListener.Init`),
    /// or reopened `stream` with a new format. The stream starts disabled.
    AudioOutOpened {
        /// The machine's id for the stream, opaque; unique among open streams.
        stream: u64,
        /// How its samples are laid out.
        format: PcmFormat,
    },
    /// The stream is gone (QEMU: `Fini`, or the audio connection closed).
    AudioOutClosed {
        /// The stream.
        stream: u64,
    },
    /// The guest started (true) or stopped (false) playing on the stream.
    AudioOutEnabled {
        /// The stream.
        stream: u64,
        /// Playing.
        enabled: bool,
    },
    /// The guest's mixer settings for the stream.
    AudioOutVolume {
        /// The stream.
        stream: u64,
        /// Muted.
        mute: bool,
        /// One level per channel, 0 (silent) to 255 (full); at most
        /// [`MAX_AUDIO_CHANNELS`] entries.
        volume: Vec<u8>,
    },
    /// Samples the guest played, in the stream's format, in order.
    AudioOutData {
        /// The stream.
        stream: u64,
        /// Whole frames, at most [`MAX_AUDIO_CHUNK`] bytes.
        pcm: Vec<u8>,
    },
    /// The machine's byte-stream ports (QEMU: `-chardev dbus,name=…`), as
    /// found when the machine was (re)found; replaces any earlier list.
    /// Nothing is connected to them yet: the channels that will carry
    /// them (agent, usbredir, port) attach on demand.
    Chardevs {
        /// At most [`MAX_CHARDEVS`], in the machine's order.
        chardevs: Vec<ChardevInfo>,
    },
    /// The guest opened (true) or closed (false) its side of a port: for
    /// the agent's port, the guest agent came or went.
    ChardevGuestOpen {
        /// The port's name, as in [`FromHost::Chardevs`].
        name: String,
        /// Open.
        open: bool,
    },
}

/// The most ports listed in [`FromHost::Chardevs`].
pub const MAX_CHARDEVS: usize = 32;

/// The longest port name, in bytes.
pub const MAX_CHARDEV_NAME: usize = 255;

/// A byte-stream port of the machine.
#[derive(Encode, Decode, Debug, Clone, PartialEq, Eq)]
pub struct ChardevInfo {
    /// Its name, e.g. `org.spice-space.vdagent.0`,
    /// `org.spice-space.usbredir.0`, `org.qemu.console.serial.0`; at
    /// most [`MAX_CHARDEV_NAME`] bytes.
    pub name: String,
    /// The guest has its side open.
    pub guest_open: bool,
}

/// The largest [`FromHost::AudioOutData`] chunk: a few tens of
/// milliseconds of CD-quality stereo, so that one message never holds the
/// link long and a later playback channel can forward chunks as they come.
pub const MAX_AUDIO_CHUNK: usize = 16 * 1024;

/// The most channels an audio stream may have.
pub const MAX_AUDIO_CHANNELS: usize = 16;

/// The sample layout of an audio stream, as the machine announced it.
#[derive(Encode, Decode, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcmFormat {
    /// Bits per sample: 8, 16 or 32.
    pub bits: u8,
    /// Signed integer samples (ignored for float).
    pub signed: bool,
    /// IEEE float samples (32 bits only).
    pub float: bool,
    /// Big-endian samples.
    pub big_endian: bool,
    /// Frames per second.
    pub frequency: u32,
    /// Channels per frame, 1 to [`MAX_AUDIO_CHANNELS`].
    pub channels: u8,
    /// Bytes per frame: `bits / 8 * channels`.
    pub bytes_per_frame: u32,
    /// Bytes per second: `bytes_per_frame * frequency`.
    pub bytes_per_second: u32,
}
