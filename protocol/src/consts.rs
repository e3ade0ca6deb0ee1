//! Numbers fixed by spice-protocol's `spice/enums.h` and `spice/protocol.h`.

use std::fmt;

use crate::wire::WireError;

/// `SPICE_MAGIC`: the bytes "REDQ" read as a little-endian u32.
pub const SPICE_MAGIC: u32 = u32::from_le_bytes(*b"REDQ");
/// Protocol major version; a link with any other major is refused.
pub const VERSION_MAJOR: u32 = 2;
/// Protocol minor version we announce.
pub const VERSION_MINOR: u32 = 2;

/// Auth mechanism word for the RSA ticket (`SPICE_COMMON_CAP_AUTH_SPICE`).
pub const AUTH_MECH_SPICE: u32 = 1;
/// Auth mechanism word for SASL (`SPICE_COMMON_CAP_AUTH_SASL`).
pub const AUTH_MECH_SASL: u32 = 2;
/// Size of the RSA-OAEP encrypted ticket the client sends (1024-bit key).
pub const TICKET_CIPHERTEXT_SIZE: usize = 128;
/// Size of the DER SubjectPublicKeyInfo in the link reply (`SPICE_TICKET_PUBKEY_BYTES`).
pub const TICKET_PUBKEY_BYTES: usize = 162;
/// Longest password the client will encrypt (`SPICE_MAX_PASSWORD_LENGTH`).
pub const MAX_PASSWORD_LENGTH: usize = 60;
/// The server acks mouse motion every this many motion/position messages.
pub const INPUT_MOTION_ACK_BUNCH: u32 = 4;
/// Highest stream id + 1 (`SPICE_MAX_NUM_STREAMS`).
pub const MAX_NUM_STREAMS: u32 = 64;

/// SPICE channel types (`SPICE_CHANNEL_*`).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChannelType {
    /// Session control, agent transport.
    Main = 1,
    /// Surfaces and drawing.
    Display = 2,
    /// Keyboard and mouse.
    Inputs = 3,
    /// Pointer shape and position.
    Cursor = 4,
    /// Audio to the client.
    Playback = 5,
    /// Audio from the client.
    Record = 6,
    /// Obsolete network tunnel.
    Tunnel = 7,
    /// Smartcard passthrough.
    Smartcard = 8,
    /// USB redirection.
    Usbredir = 9,
    /// Named byte stream.
    Port = 10,
    /// Folder sharing over a port.
    Webdav = 11,
}

impl ChannelType {
    /// Every channel type, in numeric order.
    pub const ALL: [ChannelType; 11] = [
        ChannelType::Main,
        ChannelType::Display,
        ChannelType::Inputs,
        ChannelType::Cursor,
        ChannelType::Playback,
        ChannelType::Record,
        ChannelType::Tunnel,
        ChannelType::Smartcard,
        ChannelType::Usbredir,
        ChannelType::Port,
        ChannelType::Webdav,
    ];

    /// Lower-case name as spice-gtk and the reference server print it.
    pub fn name(&self) -> &'static str {
        match self {
            ChannelType::Main => "main",
            ChannelType::Display => "display",
            ChannelType::Inputs => "inputs",
            ChannelType::Cursor => "cursor",
            ChannelType::Playback => "playback",
            ChannelType::Record => "record",
            ChannelType::Tunnel => "tunnel",
            ChannelType::Smartcard => "smartcard",
            ChannelType::Usbredir => "usbredir",
            ChannelType::Port => "port",
            ChannelType::Webdav => "webdav",
        }
    }

    /// The wire value.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

impl TryFrom<u8> for ChannelType {
    type Error = WireError;

    fn try_from(v: u8) -> Result<Self, WireError> {
        ChannelType::ALL
            .get(usize::from(v).wrapping_sub(1))
            .copied()
            .ok_or(WireError::Invalid {
                what: "channel type",
                value: u64::from(v),
            })
    }
}

impl fmt::Display for ChannelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Link-stage result codes (`SpiceLinkErr`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkErr {
    /// Success.
    Ok = 0,
    /// Unspecified failure.
    Error = 1,
    /// The link header did not start with "REDQ".
    InvalidMagic = 2,
    /// The link message was malformed.
    InvalidData = 3,
    /// The major version was not 2.
    VersionMismatch = 4,
    /// The client must reconnect over TLS.
    NeedSecured = 5,
    /// The client must reconnect without TLS.
    NeedUnsecured = 6,
    /// Wrong ticket / password.
    PermissionDenied = 7,
    /// The connection id names no session.
    BadConnectionId = 8,
    /// The requested channel does not exist.
    ChannelNotAvailable = 9,
}

impl LinkErr {
    /// Every link error, in numeric order.
    pub const ALL: [LinkErr; 10] = [
        LinkErr::Ok,
        LinkErr::Error,
        LinkErr::InvalidMagic,
        LinkErr::InvalidData,
        LinkErr::VersionMismatch,
        LinkErr::NeedSecured,
        LinkErr::NeedUnsecured,
        LinkErr::PermissionDenied,
        LinkErr::BadConnectionId,
        LinkErr::ChannelNotAvailable,
    ];

    /// Decodes a wire value; `None` for numbers the protocol does not define.
    pub fn from_u32(v: u32) -> Option<LinkErr> {
        usize::try_from(v)
            .ok()
            .and_then(|i| LinkErr::ALL.get(i))
            .copied()
    }

    /// The wire value.
    pub const fn as_u32(self) -> u32 {
        self as u32
    }

    /// Lower-case name for logs ("ok", "permission denied", ...).
    pub fn name(&self) -> &'static str {
        match self {
            LinkErr::Ok => "ok",
            LinkErr::Error => "error",
            LinkErr::InvalidMagic => "invalid magic",
            LinkErr::InvalidData => "invalid data",
            LinkErr::VersionMismatch => "version mismatch",
            LinkErr::NeedSecured => "need secured",
            LinkErr::NeedUnsecured => "need unsecured",
            LinkErr::PermissionDenied => "permission denied",
            LinkErr::BadConnectionId => "bad connection id",
            LinkErr::ChannelNotAvailable => "channel not available",
        }
    }
}

impl TryFrom<u32> for LinkErr {
    type Error = WireError;

    fn try_from(v: u32) -> Result<Self, WireError> {
        LinkErr::from_u32(v).ok_or(WireError::Invalid {
            what: "link error",
            value: u64::from(v),
        })
    }
}

impl fmt::Display for LinkErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for LinkErr {}

/// Capabilities every channel shares (`SPICE_COMMON_CAP_*`), as bit numbers.
pub mod common_cap {
    /// The client sends a mechanism word before authenticating.
    pub const AUTH_SELECTION: u32 = 0;
    /// RSA ticket authentication.
    pub const AUTH_SPICE: u32 = 1;
    /// SASL authentication.
    pub const AUTH_SASL: u32 = 2;
    /// 6-byte message headers instead of 18-byte ones.
    pub const MINI_HEADER: u32 = 3;
}

/// Main channel capabilities (`SPICE_MAIN_CAP_*`).
pub mod main_cap {
    /// Semi-seamless migration.
    pub const SEMI_SEAMLESS_MIGRATE: u32 = 0;
    /// The client accepts NAME and UUID.
    pub const NAME_AND_UUID: u32 = 1;
    /// The client accepts AGENT_CONNECTED_TOKENS.
    pub const AGENT_CONNECTED_TOKENS: u32 = 2;
    /// Seamless migration.
    pub const SEAMLESS_MIGRATE: u32 = 3;
}

/// Display channel capabilities (`SPICE_DISPLAY_CAP_*`).
pub mod display_cap {
    /// STREAM_DATA_SIZED.
    pub const SIZED_STREAM: u32 = 0;
    /// MONITORS_CONFIG (server advertising it must send the message).
    pub const MONITORS_CONFIG: u32 = 1;
    /// DRAW_COMPOSITE.
    pub const COMPOSITE: u32 = 2;
    /// 8-bit alpha surfaces.
    pub const A8_SURFACE: u32 = 3;
    /// Stream quality reports.
    pub const STREAM_REPORT: u32 = 4;
    /// LZ4 images.
    pub const LZ4_COMPRESSION: u32 = 5;
    /// PREFERRED_COMPRESSION from the client.
    pub const PREF_COMPRESSION: u32 = 6;
    /// GL scanout over a Unix socket.
    pub const GL_SCANOUT: u32 = 7;
    /// Video codecs other than MJPEG.
    pub const MULTI_CODEC: u32 = 8;
    /// MJPEG streams.
    pub const CODEC_MJPEG: u32 = 9;
    /// VP8 streams.
    pub const CODEC_VP8: u32 = 10;
    /// H.264 streams.
    pub const CODEC_H264: u32 = 11;
    /// PREFERRED_VIDEO_CODEC_TYPE from the client.
    pub const PREF_VIDEO_CODEC_TYPE: u32 = 12;
    /// VP9 streams.
    pub const CODEC_VP9: u32 = 13;
    /// H.265 streams.
    pub const CODEC_H265: u32 = 14;
}

/// Inputs channel capabilities (`SPICE_INPUTS_CAP_*`).
pub mod inputs_cap {
    /// KEY_SCANCODE byte strings.
    pub const KEY_SCANCODE: u32 = 0;
}

/// Cursor channel capabilities: `protocol.h` defines none.
pub mod cursor_cap {}

/// Playback channel capabilities (`SPICE_PLAYBACK_CAP_*`).
pub mod playback_cap {
    /// CELT 0.5.1 (obsolete).
    pub const CELT_0_5_1: u32 = 0;
    /// VOLUME and MUTE.
    pub const VOLUME: u32 = 1;
    /// LATENCY.
    pub const LATENCY: u32 = 2;
    /// Opus audio.
    pub const OPUS: u32 = 3;
}

/// Record channel capabilities (`SPICE_RECORD_CAP_*`).
pub mod record_cap {
    /// CELT 0.5.1 (obsolete).
    pub const CELT_0_5_1: u32 = 0;
    /// VOLUME and MUTE.
    pub const VOLUME: u32 = 1;
    /// Opus audio.
    pub const OPUS: u32 = 2;
}

/// Spicevmc (usbredir, port, webdav, smartcard) capabilities.
pub mod spicevmc_cap {
    /// COMPRESSED_DATA with LZ4.
    pub const DATA_COMPRESS_LZ4: u32 = 0;
}

/// Message type numbers, per channel and direction (`srv` = server to client, `cli` = client to server).
pub mod msg {
    /// Server→client messages every channel understands.
    pub mod common_srv {
        /// u32 migrate flags.
        pub const MIGRATE: u16 = 1;
        /// Opaque migration data.
        pub const MIGRATE_DATA: u16 = 2;
        /// Start ACK flow control.
        pub const SET_ACK: u16 = 3;
        /// Latency probe.
        pub const PING: u16 = 4;
        /// Wait until other channels reach a serial.
        pub const WAIT_FOR_CHANNELS: u16 = 5;
        /// The server is closing the channel.
        pub const DISCONNECTING: u16 = 6;
        /// Human-readable notification.
        pub const NOTIFY: u16 = 7;
        /// Several sub-messages in one.
        pub const LIST: u16 = 8;
        /// Last common number; channel messages start after it.
        pub const BASE_LAST: u16 = 100;
    }

    /// Client→server messages every channel may send.
    pub mod common_cli {
        /// Acknowledges SET_ACK.
        pub const ACK_SYNC: u16 = 1;
        /// One ACK per window of messages.
        pub const ACK: u16 = 2;
        /// Answer to PING.
        pub const PONG: u16 = 3;
        /// Answer to MIGRATE with NEED_FLUSH.
        pub const MIGRATE_FLUSH_MARK: u16 = 4;
        /// Forwarded migration data.
        pub const MIGRATE_DATA: u16 = 5;
        /// The client is closing the channel.
        pub const DISCONNECTING: u16 = 6;
    }

    /// Main channel, server→client.
    pub mod main_srv {
        /// Semi-seamless migration start.
        pub const MIGRATE_BEGIN: u16 = 101;
        /// Migration cancelled.
        pub const MIGRATE_CANCEL: u16 = 102;
        /// Session parameters.
        pub const INIT: u16 = 103;
        /// Channels the client may open.
        pub const CHANNELS_LIST: u16 = 104;
        /// Supported and current mouse mode.
        pub const MOUSE_MODE: u16 = 105;
        /// Resets the client's multimedia clock.
        pub const MULTI_MEDIA_TIME: u16 = 106;
        /// The guest agent appeared.
        pub const AGENT_CONNECTED: u16 = 107;
        /// The guest agent went away.
        pub const AGENT_DISCONNECTED: u16 = 108;
        /// Agent byte stream.
        pub const AGENT_DATA: u16 = 109;
        /// Agent tokens returned to the client.
        pub const AGENT_TOKEN: u16 = 110;
        /// Reconnect to another host.
        pub const MIGRATE_SWITCH_HOST: u16 = 111;
        /// Migration done.
        pub const MIGRATE_END: u16 = 112;
        /// VM name.
        pub const NAME: u16 = 113;
        /// VM UUID.
        pub const UUID: u16 = 114;
        /// The agent appeared, with tokens.
        pub const AGENT_CONNECTED_TOKENS: u16 = 115;
        /// Seamless migration start.
        pub const MIGRATE_BEGIN_SEAMLESS: u16 = 116;
        /// Destination accepts seamless migration.
        pub const MIGRATE_DST_SEAMLESS_ACK: u16 = 117;
        /// Destination refuses seamless migration.
        pub const MIGRATE_DST_SEAMLESS_NACK: u16 = 118;
    }

    /// Main channel, client→server.
    pub mod main_cli {
        /// Client cache size (unused by spice-gtk).
        pub const CLIENT_INFO: u16 = 101;
        /// Connected to the migration target.
        pub const MIGRATE_CONNECTED: u16 = 102;
        /// Could not connect to the migration target.
        pub const MIGRATE_CONNECT_ERROR: u16 = 103;
        /// Asks for CHANNELS_LIST.
        pub const ATTACH_CHANNELS: u16 = 104;
        /// Asks for a mouse mode.
        pub const MOUSE_MODE_REQUEST: u16 = 105;
        /// Starts agent traffic and grants tokens.
        pub const AGENT_START: u16 = 106;
        /// Agent byte stream.
        pub const AGENT_DATA: u16 = 107;
        /// Grants the server more agent tokens.
        pub const AGENT_TOKEN: u16 = 108;
        /// Migration finished on the client side.
        pub const MIGRATE_END: u16 = 109;
        /// Asks the destination for seamless migration.
        pub const MIGRATE_DST_DO_SEAMLESS: u16 = 110;
        /// Connected to the seamless migration target.
        pub const MIGRATE_CONNECTED_SEAMLESS: u16 = 111;
        /// Client-side quality report.
        pub const QUALITY_INDICATOR: u16 = 112;
    }

    /// Display channel, server→client.
    pub mod display_srv {
        /// Legacy primary creation.
        pub const MODE: u16 = 101;
        /// The first frame is complete; the widget shows nothing before it.
        pub const MARK: u16 = 102;
        /// Clears the primary and palettes.
        pub const RESET: u16 = 103;
        /// Copies a rectangle within a surface.
        pub const COPY_BITS: u16 = 104;
        /// Evicts pixmap cache entries.
        pub const INVAL_LIST: u16 = 105;
        /// Clears the pixmap cache.
        pub const INVAL_ALL_PIXMAPS: u16 = 106;
        /// Evicts one palette.
        pub const INVAL_PALETTE: u16 = 107;
        /// Clears the palette cache.
        pub const INVAL_ALL_PALETTES: u16 = 108;
        /// Starts a video stream.
        pub const STREAM_CREATE: u16 = 122;
        /// One video frame.
        pub const STREAM_DATA: u16 = 123;
        /// Changes a stream's clip.
        pub const STREAM_CLIP: u16 = 124;
        /// Ends a stream.
        pub const STREAM_DESTROY: u16 = 125;
        /// Ends every stream.
        pub const STREAM_DESTROY_ALL: u16 = 126;
        /// Solid or pattern fill.
        pub const DRAW_FILL: u16 = 302;
        /// Image with brush.
        pub const DRAW_OPAQUE: u16 = 303;
        /// Image copy.
        pub const DRAW_COPY: u16 = 304;
        /// Image blend.
        pub const DRAW_BLEND: u16 = 305;
        /// Fill with black.
        pub const DRAW_BLACKNESS: u16 = 306;
        /// Fill with white.
        pub const DRAW_WHITENESS: u16 = 307;
        /// Invert.
        pub const DRAW_INVERS: u16 = 308;
        /// Ternary raster op.
        pub const DRAW_ROP3: u16 = 309;
        /// Path stroke.
        pub const DRAW_STROKE: u16 = 310;
        /// Glyph text.
        pub const DRAW_TEXT: u16 = 311;
        /// Colour-keyed copy.
        pub const DRAW_TRANSPARENT: u16 = 312;
        /// Alpha blend.
        pub const DRAW_ALPHA_BLEND: u16 = 313;
        /// Creates a surface.
        pub const SURFACE_CREATE: u16 = 314;
        /// Destroys a surface.
        pub const SURFACE_DESTROY: u16 = 315;
        /// Video frame with its own size.
        pub const STREAM_DATA_SIZED: u16 = 316;
        /// Monitor layout.
        pub const MONITORS_CONFIG: u16 = 317;
        /// Render composite.
        pub const DRAW_COMPOSITE: u16 = 318;
        /// Asks for stream reports.
        pub const STREAM_ACTIVATE_REPORT: u16 = 319;
        /// dma-buf scanout (Unix sockets only).
        pub const GL_SCANOUT_UNIX: u16 = 320;
        /// dma-buf damage.
        pub const GL_DRAW: u16 = 321;
        /// Server-side quality report.
        pub const QUALITY_INDICATOR: u16 = 322;
    }

    /// Display channel, client→server.
    pub mod display_cli {
        /// Cache and GLZ dictionary parameters.
        pub const INIT: u16 = 101;
        /// Stream playback statistics.
        pub const STREAM_REPORT: u16 = 102;
        /// Image compression the user picked.
        pub const PREFERRED_COMPRESSION: u16 = 103;
        /// Answer to GL_DRAW.
        pub const GL_DRAW_DONE: u16 = 104;
        /// Video codecs in preference order.
        pub const PREFERRED_VIDEO_CODEC_TYPE: u16 = 105;
    }

    /// Inputs channel, server→client.
    pub mod inputs_srv {
        /// Initial keyboard LED state.
        pub const INIT: u16 = 101;
        /// Keyboard LED state changed.
        pub const KEY_MODIFIERS: u16 = 102;
        /// Sent every INPUT_MOTION_ACK_BUNCH motion messages.
        pub const MOUSE_MOTION_ACK: u16 = 111;
    }

    /// Inputs channel, client→server.
    pub mod inputs_cli {
        /// Key press (scancode bytes in a u32).
        pub const KEY_DOWN: u16 = 101;
        /// Key release (scancode bytes in a u32).
        pub const KEY_UP: u16 = 102;
        /// Client lock-key state.
        pub const KEY_MODIFIERS: u16 = 103;
        /// Raw scancode byte string.
        pub const KEY_SCANCODE: u16 = 104;
        /// Relative mouse motion.
        pub const MOUSE_MOTION: u16 = 111;
        /// Absolute mouse position.
        pub const MOUSE_POSITION: u16 = 112;
        /// Button press.
        pub const MOUSE_PRESS: u16 = 113;
        /// Button release.
        pub const MOUSE_RELEASE: u16 = 114;
    }

    /// Cursor channel, server→client (the client sends nothing channel-specific).
    pub mod cursor_srv {
        /// Initial position and shape; must come first.
        pub const INIT: u16 = 101;
        /// Clears the cursor cache.
        pub const RESET: u16 = 102;
        /// New shape.
        pub const SET: u16 = 103;
        /// New position.
        pub const MOVE: u16 = 104;
        /// Hides the cursor.
        pub const HIDE: u16 = 105;
        /// Trail settings (ignored by spice-gtk).
        pub const TRAIL: u16 = 106;
        /// Evicts one cached shape.
        pub const INVAL_ONE: u16 = 107;
        /// Clears the cursor cache.
        pub const INVAL_ALL: u16 = 108;
    }

    /// Playback channel, server→client.
    pub mod playback_srv {
        /// Audio packet.
        pub const DATA: u16 = 101;
        /// Audio encoding.
        pub const MODE: u16 = 102;
        /// Playback starts.
        pub const START: u16 = 103;
        /// Playback stops.
        pub const STOP: u16 = 104;
        /// Per-channel volume.
        pub const VOLUME: u16 = 105;
        /// Mute state.
        pub const MUTE: u16 = 106;
        /// Minimum client buffering.
        pub const LATENCY: u16 = 107;
    }

    /// Record channel, server→client.
    pub mod record_srv {
        /// Recording starts.
        pub const START: u16 = 101;
        /// Recording stops.
        pub const STOP: u16 = 102;
        /// Per-channel volume.
        pub const VOLUME: u16 = 103;
        /// Mute state.
        pub const MUTE: u16 = 104;
    }

    /// Record channel, client→server.
    pub mod record_cli {
        /// Audio packet.
        pub const DATA: u16 = 101;
        /// Audio encoding.
        pub const MODE: u16 = 102;
        /// First packet's timestamp.
        pub const START_MARK: u16 = 103;
    }

    /// Spicevmc channels (usbredir, port, webdav), both directions.
    pub mod spicevmc {
        /// Raw bytes.
        pub const DATA: u16 = 101;
        /// LZ4-compressed bytes.
        pub const COMPRESSED_DATA: u16 = 102;
    }

    /// Smartcard channel, both directions.
    pub mod smartcard {
        /// VSC message.
        pub const DATA: u16 = 101;
    }

    /// Port channel, server→client.
    pub mod port_srv {
        /// Port name and open state.
        pub const INIT: u16 = 201;
        /// Port event.
        pub const EVENT: u16 = 202;
    }

    /// Port channel, client→server.
    pub mod port_cli {
        /// Port event.
        pub const EVENT: u16 = 201;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_is_redq_on_the_wire() {
        assert_eq!(SPICE_MAGIC.to_le_bytes(), *b"REDQ");
        assert_eq!(SPICE_MAGIC, 0x5144_4552);
    }

    #[test]
    fn ticket_sizes_match_protocol_h() {
        assert_eq!(TICKET_PUBKEY_BYTES, 1024 / 8 + 34);
        assert_eq!(TICKET_CIPHERTEXT_SIZE, 1024 / 8);
    }

    #[test]
    fn channel_type_round_trips() {
        for (i, ct) in ChannelType::ALL.iter().enumerate() {
            let v = u8::try_from(i + 1).unwrap();
            assert_eq!(ct.as_u8(), v);
            assert_eq!(ChannelType::try_from(v), Ok(*ct));
        }
        assert_eq!(ChannelType::Display.name(), "display");
        assert_eq!(ChannelType::Webdav.to_string(), "webdav");
    }

    #[test]
    fn channel_type_rejects_unknown() {
        for v in [0u8, 12, 255] {
            assert_eq!(
                ChannelType::try_from(v),
                Err(WireError::Invalid {
                    what: "channel type",
                    value: u64::from(v)
                })
            );
        }
    }

    #[test]
    fn link_err_round_trips() {
        for (i, e) in LinkErr::ALL.iter().enumerate() {
            let v = u32::try_from(i).unwrap();
            assert_eq!(e.as_u32(), v);
            assert_eq!(LinkErr::from_u32(v), Some(*e));
            assert_eq!(LinkErr::try_from(v), Ok(*e));
        }
        assert_eq!(LinkErr::from_u32(10), None);
        assert_eq!(LinkErr::from_u32(u32::MAX), None);
        assert!(LinkErr::try_from(10).is_err());
        assert_eq!(LinkErr::PermissionDenied.to_string(), "permission denied");
    }

    #[test]
    fn message_numbers_spot_check() {
        assert_eq!(msg::display_srv::DRAW_COPY, 304);
        assert_eq!(msg::display_srv::QUALITY_INDICATOR, 322);
        assert_eq!(msg::main_srv::MIGRATE_DST_SEAMLESS_NACK, 118);
        assert_eq!(msg::main_cli::QUALITY_INDICATOR, 112);
        assert_eq!(msg::inputs_cli::MOUSE_RELEASE, 114);
        assert_eq!(msg::cursor_srv::INVAL_ALL, 108);
    }
}
