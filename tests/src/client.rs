//! A small SPICE client for tests.
//!
//! It does what spice-gtk does on the wire, and no more than tests need:
//!
//! * [`Link::connect`]: the link stage (SpiceLinkHeader + SpiceLinkMess, the
//!   reply, the authentication mechanism word, the RSA-OAEP(SHA-1) ticket and
//!   the link result).
//! * [`Channel`]: mini or full data headers as negotiated, `send`/`recv` with
//!   time-outs, LIST unpacking, automatic ACK_SYNC/ACK and PONG answers.
//! * [`Session`]: main channel → INIT → ATTACH_CHANNELS → CHANNELS_LIST, then
//!   more channels linked with the session id.
//! * [`RawConn`]: a plain socket for sending malformed bytes and watching the
//!   server close the connection.
//!
//! Everything is encoded here from the SPICE specification (little-endian,
//! packed), independently of the server's own protocol crate.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Numbers from `spice/protocol.h` and `spice/enums.h` (spice-protocol 0.14).
pub mod consts {
    /// "REDQ".
    pub const MAGIC: [u8; 4] = *b"REDQ";
    /// Protocol major version.
    pub const VERSION_MAJOR: u32 = 2;
    /// Protocol minor version.
    pub const VERSION_MINOR: u32 = 2;
    /// DER SubjectPublicKeyInfo of a 1024-bit RSA key.
    pub const TICKET_PUBKEY_BYTES: usize = 162;
    /// RSA-1024 ciphertext.
    pub const ENCRYPTED_TICKET_BYTES: usize = 128;
    /// Size of SpiceLinkHeader.
    pub const LINK_HEADER_BYTES: usize = 16;
    /// Size of the fixed part of SpiceLinkMess.
    pub const LINK_MESS_BYTES: usize = 18;
    /// Size of the fixed part of SpiceLinkReply.
    pub const LINK_REPLY_BYTES: usize = 178;

    /// Channel types.
    pub const CHANNEL_MAIN: u8 = 1;
    /// Display channel.
    pub const CHANNEL_DISPLAY: u8 = 2;
    /// Inputs channel.
    pub const CHANNEL_INPUTS: u8 = 3;
    /// Cursor channel.
    pub const CHANNEL_CURSOR: u8 = 4;
    /// Playback channel.
    pub const CHANNEL_PLAYBACK: u8 = 5;
    /// Record channel.
    pub const CHANNEL_RECORD: u8 = 6;

    /// Common capability bits.
    pub const COMMON_CAP_AUTH_SELECTION: u32 = 0;
    /// Ticket authentication.
    pub const COMMON_CAP_AUTH_SPICE: u32 = 1;
    /// SASL authentication.
    pub const COMMON_CAP_AUTH_SASL: u32 = 2;
    /// 6-byte mini data header.
    pub const COMMON_CAP_MINI_HEADER: u32 = 3;
    /// Inputs channel capability: KEY_SCANCODE messages.
    pub const INPUTS_CAP_KEY_SCANCODE: u32 = 0;
    /// Display channel capability: MONITORS_CONFIG.
    pub const DISPLAY_CAP_MONITORS_CONFIG: u32 = 1;
    /// Display channel capability: LZ4 images.
    pub const DISPLAY_CAP_LZ4_COMPRESSION: u32 = 5;
    /// Display channel capability: PREFERRED_COMPRESSION messages.
    pub const DISPLAY_CAP_PREF_COMPRESSION: u32 = 6;
    /// `SpiceImageCompression` OFF: plain bitmaps.
    pub const IMAGE_COMPRESSION_OFF: u8 = 1;

    /// Authentication mechanism word: SPICE ticket.
    pub const AUTH_MECHANISM_SPICE: u32 = 1;

    /// Server → client, every channel.
    pub const MSG_MIGRATE: u16 = 1;
    /// SET_ACK: u32 generation, u32 window.
    pub const MSG_SET_ACK: u16 = 3;
    /// PING: u32 id, u64 timestamp, padding.
    pub const MSG_PING: u16 = 4;
    /// WAIT_FOR_CHANNELS.
    pub const MSG_WAIT_FOR_CHANNELS: u16 = 5;
    /// DISCONNECTING.
    pub const MSG_DISCONNECTING: u16 = 6;
    /// NOTIFY.
    pub const MSG_NOTIFY: u16 = 7;
    /// LIST of sub-messages.
    pub const MSG_LIST: u16 = 8;

    /// Client → server, every channel.
    pub const MSGC_ACK_SYNC: u16 = 1;
    /// ACK.
    pub const MSGC_ACK: u16 = 2;
    /// PONG.
    pub const MSGC_PONG: u16 = 3;
    /// DISCONNECTING.
    pub const MSGC_DISCONNECTING: u16 = 6;

    /// Main channel, server → client: INIT.
    pub const MSG_MAIN_INIT: u16 = 103;
    /// CHANNELS_LIST.
    pub const MSG_MAIN_CHANNELS_LIST: u16 = 104;
    /// MOUSE_MODE.
    pub const MSG_MAIN_MOUSE_MODE: u16 = 105;
    /// Main channel, client → server: ATTACH_CHANNELS.
    pub const MSGC_MAIN_ATTACH_CHANNELS: u16 = 104;
    /// MOUSE_MODE_REQUEST.
    pub const MSGC_MAIN_MOUSE_MODE_REQUEST: u16 = 105;

    /// Display, server → client: MARK.
    pub const MSG_DISPLAY_MARK: u16 = 102;
    /// DRAW_FILL.
    pub const MSG_DISPLAY_DRAW_FILL: u16 = 302;
    /// DRAW_COPY.
    pub const MSG_DISPLAY_DRAW_COPY: u16 = 304;
    /// SURFACE_CREATE.
    pub const MSG_DISPLAY_SURFACE_CREATE: u16 = 314;
    /// MONITORS_CONFIG.
    pub const MSG_DISPLAY_MONITORS_CONFIG: u16 = 317;
    /// Display, client → server: INIT.
    pub const MSGC_DISPLAY_INIT: u16 = 101;
    /// Display, client → server: PREFERRED_COMPRESSION (u8).
    pub const MSGC_DISPLAY_PREFERRED_COMPRESSION: u16 = 103;

    /// Inputs, server → client: INIT (u16 modifiers).
    pub const MSG_INPUTS_INIT: u16 = 101;
    /// KEY_MODIFIERS (u16).
    pub const MSG_INPUTS_KEY_MODIFIERS: u16 = 102;
    /// MOUSE_MOTION_ACK (empty).
    pub const MSG_INPUTS_MOUSE_MOTION_ACK: u16 = 111;
    /// Inputs, client → server: KEY_DOWN (u32 code).
    pub const MSGC_INPUTS_KEY_DOWN: u16 = 101;
    /// KEY_UP (u32 code).
    pub const MSGC_INPUTS_KEY_UP: u16 = 102;
    /// KEY_MODIFIERS (u16 flags).
    pub const MSGC_INPUTS_KEY_MODIFIERS: u16 = 103;
    /// KEY_SCANCODE (raw bytes).
    pub const MSGC_INPUTS_KEY_SCANCODE: u16 = 104;
    /// MOUSE_MOTION (i32 dx, i32 dy, u16 buttons).
    pub const MSGC_INPUTS_MOUSE_MOTION: u16 = 111;
    /// MOUSE_POSITION (u32 x, u32 y, u16 buttons, u8 display).
    pub const MSGC_INPUTS_MOUSE_POSITION: u16 = 112;
    /// MOUSE_PRESS (u8 button, u16 buttons).
    pub const MSGC_INPUTS_MOUSE_PRESS: u16 = 113;
    /// MOUSE_RELEASE (u8 button, u16 buttons).
    pub const MSGC_INPUTS_MOUSE_RELEASE: u16 = 114;
    /// Motion messages per MOUSE_MOTION_ACK.
    pub const INPUT_MOTION_ACK_BUNCH: u32 = 4;
}

use consts::*;

/// `SpiceLinkErr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkErr {
    /// 0
    Ok,
    /// 1
    Error,
    /// 2
    InvalidMagic,
    /// 3
    InvalidData,
    /// 4
    VersionMismatch,
    /// 5
    NeedSecured,
    /// 6
    NeedUnsecured,
    /// 7
    PermissionDenied,
    /// 8
    BadConnectionId,
    /// 9
    ChannelNotAvailable,
    /// Anything else.
    Other(u32),
}

impl LinkErr {
    /// From the wire value.
    pub fn from_u32(v: u32) -> LinkErr {
        match v {
            0 => LinkErr::Ok,
            1 => LinkErr::Error,
            2 => LinkErr::InvalidMagic,
            3 => LinkErr::InvalidData,
            4 => LinkErr::VersionMismatch,
            5 => LinkErr::NeedSecured,
            6 => LinkErr::NeedUnsecured,
            7 => LinkErr::PermissionDenied,
            8 => LinkErr::BadConnectionId,
            9 => LinkErr::ChannelNotAvailable,
            v => LinkErr::Other(v),
        }
    }

    /// The wire value.
    pub fn to_u32(self) -> u32 {
        match self {
            LinkErr::Ok => 0,
            LinkErr::Error => 1,
            LinkErr::InvalidMagic => 2,
            LinkErr::InvalidData => 3,
            LinkErr::VersionMismatch => 4,
            LinkErr::NeedSecured => 5,
            LinkErr::NeedUnsecured => 6,
            LinkErr::PermissionDenied => 7,
            LinkErr::BadConnectionId => 8,
            LinkErr::ChannelNotAvailable => 9,
            LinkErr::Other(v) => v,
        }
    }
}

/// What can go wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Socket error other than a close.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// Nothing (or not enough) arrived in time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// The server closed the connection (EOF or reset).
    #[error("connection closed by the server")]
    Closed,
    /// The link reply carried a non-zero error (an early refusal, before
    /// authentication).
    #[error("link reply error {0:?}")]
    LinkReply(LinkErr),
    /// The u32 link result after the ticket was non-zero.
    #[error("link refused with result {0:?}")]
    LinkRefused(LinkErr),
    /// The server sent something a SPICE client cannot accept.
    #[error("protocol violation by the server: {0}")]
    Protocol(String),
    /// Ticket encryption failed (bad key from the server, or password too long).
    #[error("ticket encryption: {0}")]
    Crypto(String),
}

/// Client-side result.
pub type Result<T> = std::result::Result<T, ClientError>;

/// How long the link stage may take.
pub const LINK_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest message body the client accepts (a bound against a broken server).
pub const MAX_BODY: usize = 64 << 20;
/// Largest link reply body the client accepts.
pub const MAX_LINK_REPLY: usize = 64 << 10;

// ---------------------------------------------------------------------------
// Little-endian helpers

/// Appends little-endian integers to a byte vector.
pub trait PutLe {
    /// u8
    fn put_u8(&mut self, v: u8) -> &mut Self;
    /// u16 LE
    fn put_u16(&mut self, v: u16) -> &mut Self;
    /// u32 LE
    fn put_u32(&mut self, v: u32) -> &mut Self;
    /// i32 LE
    fn put_i32(&mut self, v: i32) -> &mut Self;
    /// u64 LE
    fn put_u64(&mut self, v: u64) -> &mut Self;
    /// i64 LE
    fn put_i64(&mut self, v: i64) -> &mut Self;
}

impl PutLe for Vec<u8> {
    fn put_u8(&mut self, v: u8) -> &mut Self {
        self.push(v);
        self
    }
    fn put_u16(&mut self, v: u16) -> &mut Self {
        self.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn put_u32(&mut self, v: u32) -> &mut Self {
        self.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn put_i32(&mut self, v: i32) -> &mut Self {
        self.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn put_u64(&mut self, v: u64) -> &mut Self {
        self.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn put_i64(&mut self, v: i64) -> &mut Self {
        self.extend_from_slice(&v.to_le_bytes());
        self
    }
}

/// Bounds-checked little-endian reader over a message body.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Starts at byte 0.
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }
    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }
    /// Reads `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(ClientError::Protocol(format!(
                "message too short: need {n} more bytes at offset {}, have {}",
                self.pos,
                self.remaining()
            )));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    /// u8
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }
    /// u16 LE
    pub fn u16(&mut self) -> Result<u16> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    /// u32 LE
    pub fn u32(&mut self) -> Result<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// u64 LE
    pub fn u64(&mut self) -> Result<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

/// Capability words with bit `n` set for every `n` in `bits`.
pub fn caps(bits: &[u32]) -> Vec<u32> {
    let mut words = Vec::new();
    for &b in bits {
        let w = (b / 32) as usize;
        if words.len() <= w {
            words.resize(w + 1, 0);
        }
        words[w] |= 1 << (b % 32);
    }
    words
}

/// True when capability bit `bit` is set in `words`.
pub fn has_cap(words: &[u32], bit: u32) -> bool {
    words
        .get((bit / 32) as usize)
        .is_some_and(|w| w & (1 << (bit % 32)) != 0)
}

/// The common caps the test client announces by default: AUTH_SELECTION,
/// AUTH_SPICE and MINI_HEADER.
pub fn default_common_caps() -> Vec<u32> {
    caps(&[
        COMMON_CAP_AUTH_SELECTION,
        COMMON_CAP_AUTH_SPICE,
        COMMON_CAP_MINI_HEADER,
    ])
}

// ---------------------------------------------------------------------------
// Socket reading with deadlines

/// Reads into `buf` until it holds at least `n` bytes or `deadline` passes.
/// Partial data stays in `buf`, so a time-out loses nothing.
fn fill_to(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    n: usize,
    deadline: Instant,
    what: &str,
) -> Result<()> {
    let mut tmp = [0u8; 65536];
    while buf.len() < n {
        let now = Instant::now();
        if now >= deadline {
            return Err(ClientError::Timeout(format!(
                "{what} ({} of {n} bytes received)",
                buf.len()
            )));
        }
        let left = (deadline - now).max(Duration::from_millis(1));
        stream.set_read_timeout(Some(left))?;
        let want = (n - buf.len()).min(tmp.len());
        match stream.read(&mut tmp[..want]) {
            Ok(0) => return Err(ClientError::Closed),
            Ok(k) => buf.extend_from_slice(&tmp[..k]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) if is_close(&e) => return Err(ClientError::Closed),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn is_close(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
    )
}

fn write_all(stream: &mut TcpStream, bytes: &[u8]) -> Result<()> {
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    match stream.write_all(bytes) {
        Ok(()) => Ok(()),
        Err(e) if is_close(&e) => Err(ClientError::Closed),
        Err(e) => Err(e.into()),
    }
}

/// Reads and discards until the server closes the connection, at most
/// `timeout`. Returns how many bytes arrived before the close; a time-out
/// (the connection still open) is [`ClientError::Timeout`].
fn wait_closed(stream: &mut TcpStream, timeout: Duration) -> Result<usize> {
    let deadline = Instant::now() + timeout;
    let mut total = 0usize;
    let mut tmp = [0u8; 65536];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(ClientError::Timeout(format!(
                "the server to close the connection (still open after {timeout:?}, {total} bytes received)"
            )));
        }
        stream.set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))?;
        match stream.read(&mut tmp) {
            Ok(0) => return Ok(total),
            Ok(k) => total = total.saturating_add(k),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) if is_close(&e) => return Ok(total),
            Err(e) => return Err(e.into()),
        }
    }
}

// ---------------------------------------------------------------------------
// Link stage

/// What the client puts in SpiceLinkMess.
#[derive(Debug, Clone)]
pub struct LinkParams {
    /// `SPICE_CHANNEL_*`.
    pub channel_type: u8,
    /// Channel instance.
    pub channel_id: u8,
    /// 0 for a new session's main channel, else the session id.
    pub connection_id: u32,
    /// Common capability words.
    pub common_caps: Vec<u32>,
    /// Channel capability words.
    pub channel_caps: Vec<u32>,
}

impl LinkParams {
    /// SpiceLinkHeader + SpiceLinkMess, as spice-gtk sends them.
    pub fn encode(&self) -> Vec<u8> {
        let ncaps = self.common_caps.len() + self.channel_caps.len();
        let size = LINK_MESS_BYTES + 4 * ncaps;
        let mut b = Vec::with_capacity(LINK_HEADER_BYTES + size);
        b.extend_from_slice(&MAGIC);
        b.put_u32(VERSION_MAJOR)
            .put_u32(VERSION_MINOR)
            .put_u32(size as u32)
            .put_u32(self.connection_id)
            .put_u8(self.channel_type)
            .put_u8(self.channel_id)
            .put_u32(self.common_caps.len() as u32)
            .put_u32(self.channel_caps.len() as u32)
            .put_u32(LINK_MESS_BYTES as u32);
        for w in self.common_caps.iter().chain(&self.channel_caps) {
            b.put_u32(*w);
        }
        b
    }
}

/// The server's SpiceLinkHeader + SpiceLinkReply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkReply {
    /// Major version in the reply header.
    pub major: u32,
    /// Minor version in the reply header.
    pub minor: u32,
    /// The error field (`Ok` on success).
    pub error: LinkErr,
    /// DER SubjectPublicKeyInfo (empty on an error reply).
    pub pub_key: Vec<u8>,
    /// Server common capability words.
    pub common_caps: Vec<u32>,
    /// Server channel capability words.
    pub channel_caps: Vec<u32>,
}

/// Reads a link reply from `stream`. An error reply is returned as a
/// `LinkReply` with `error != Ok` (only its error field is read); malformed
/// replies are [`ClientError::Protocol`].
pub fn read_link_reply(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Result<LinkReply> {
    fill_to(
        stream,
        buf,
        LINK_HEADER_BYTES,
        deadline,
        "the link reply header",
    )?;
    let hdr: Vec<u8> = buf.drain(..LINK_HEADER_BYTES).collect();
    let mut c = Cursor::new(&hdr);
    let magic = c.bytes(4)?;
    if magic != MAGIC {
        return Err(ClientError::Protocol(format!(
            "link reply magic {magic:02x?}"
        )));
    }
    let major = c.u32()?;
    let minor = c.u32()?;
    let size = c.u32()? as usize;
    if !(4..=MAX_LINK_REPLY).contains(&size) {
        return Err(ClientError::Protocol(format!("link reply size {size}")));
    }
    fill_to(stream, buf, size, deadline, "the link reply body")?;
    let body: Vec<u8> = buf.drain(..size).collect();
    parse_link_reply_body(major, minor, &body)
}

/// Parses a SpiceLinkReply body (what follows the 16-byte link header).
pub fn parse_link_reply_body(major: u32, minor: u32, body: &[u8]) -> Result<LinkReply> {
    let size = body.len();
    let mut c = Cursor::new(body);
    let error = LinkErr::from_u32(c.u32()?);
    if error != LinkErr::Ok {
        return Ok(LinkReply {
            major,
            minor,
            error,
            pub_key: Vec::new(),
            common_caps: Vec::new(),
            channel_caps: Vec::new(),
        });
    }
    if size < LINK_REPLY_BYTES {
        return Err(ClientError::Protocol(format!(
            "link reply of {size} bytes is too short"
        )));
    }
    let pub_key = c.bytes(TICKET_PUBKEY_BYTES)?.to_vec();
    let ncommon = c.u32()? as usize;
    let nchannel = c.u32()? as usize;
    let offset = c.u32()? as usize;
    let caps_bytes = ncommon
        .checked_add(nchannel)
        .and_then(|n| n.checked_mul(4))
        .ok_or_else(|| ClientError::Protocol("capability count overflows".into()))?;
    let end = offset
        .checked_add(caps_bytes)
        .ok_or_else(|| ClientError::Protocol("capability offset overflows".into()))?;
    if offset < LINK_REPLY_BYTES || end > size {
        return Err(ClientError::Protocol(format!(
            "capabilities at {offset}..{end} outside the {size}-byte reply"
        )));
    }
    let mut c = Cursor::new(&body[offset..end]);
    let common_caps = (0..ncommon).map(|_| c.u32()).collect::<Result<Vec<_>>>()?;
    let channel_caps = (0..nchannel).map(|_| c.u32()).collect::<Result<Vec<_>>>()?;
    Ok(LinkReply {
        major,
        minor,
        error,
        pub_key,
        common_caps,
        channel_caps,
    })
}

/// Encrypts `password` + NUL with RSA-OAEP (SHA-1, MGF1-SHA-1, no label)
/// under the DER SubjectPublicKeyInfo `pub_key`, as spice-gtk does.
pub fn encrypt_ticket(pub_key: &[u8], password: &[u8]) -> Result<Vec<u8>> {
    use rsa::pkcs8::DecodePublicKey;
    let key = rsa::PublicKey::from_public_key_der(pub_key)
        .map_err(|e| ClientError::Crypto(format!("server public key: {e}")))?;
    let mut plain = password.to_vec();
    plain.push(0);
    key.oaep_encrypt::<sha1::Sha1>(&plain)
        .map_err(|e| ClientError::Crypto(e.to_string()))
}

/// The link stage.
pub struct Link;

impl Link {
    /// Connects to `addr` and links one channel like spice-gtk: LinkMess,
    /// LinkReply (a non-zero error there is [`ClientError::LinkReply`]),
    /// mechanism word 1 if the server has AUTH_SELECTION, the 128-byte
    /// ticket for `password`, and the u32 result (non-zero is
    /// [`ClientError::LinkRefused`]).
    pub fn connect(
        addr: SocketAddr,
        channel_type: u8,
        channel_id: u8,
        connection_id: u32,
        password: &str,
        common_caps: &[u32],
        channel_caps: &[u32],
    ) -> Result<Channel> {
        let params = LinkParams {
            channel_type,
            channel_id,
            connection_id,
            common_caps: common_caps.to_vec(),
            channel_caps: channel_caps.to_vec(),
        };
        Link::connect_with(addr, &params, password.as_bytes())
    }

    /// [`Link::connect`] with explicit parameters.
    pub fn connect_with(addr: SocketAddr, params: &LinkParams, password: &[u8]) -> Result<Channel> {
        let stream = TcpStream::connect_timeout(&addr, LINK_TIMEOUT)?;
        Link::handshake(stream, params, password)
    }

    /// The link stage on an already connected socket (so that the caller
    /// knows its local address even when the link is refused).
    pub fn handshake(
        mut stream: TcpStream,
        params: &LinkParams,
        password: &[u8],
    ) -> Result<Channel> {
        let deadline = Instant::now() + LINK_TIMEOUT;
        stream.set_nodelay(true)?;
        write_all(&mut stream, &params.encode())?;
        let mut buf = Vec::new();
        let reply = read_link_reply(&mut stream, &mut buf, deadline)?;
        if reply.error != LinkErr::Ok {
            return Err(ClientError::LinkReply(reply.error));
        }
        if has_cap(&reply.common_caps, COMMON_CAP_AUTH_SELECTION) {
            if !has_cap(&reply.common_caps, COMMON_CAP_AUTH_SPICE) {
                return Err(ClientError::Protocol(
                    "server has AUTH_SELECTION but not AUTH_SPICE: no compatible auth mechanism"
                        .into(),
                ));
            }
            write_all(&mut stream, &AUTH_MECHANISM_SPICE.to_le_bytes())?;
        }
        let ticket = encrypt_ticket(&reply.pub_key, password)?;
        if ticket.len() != ENCRYPTED_TICKET_BYTES {
            return Err(ClientError::Protocol(format!(
                "server key gives a {}-byte ticket, SPICE needs {ENCRYPTED_TICKET_BYTES}",
                ticket.len()
            )));
        }
        write_all(&mut stream, &ticket)?;
        fill_to(&mut stream, &mut buf, 4, deadline, "the link result")?;
        let result: Vec<u8> = buf.drain(..4).collect();
        let result = LinkErr::from_u32(u32::from_le_bytes([
            result[0], result[1], result[2], result[3],
        ]));
        if result != LinkErr::Ok {
            return Err(ClientError::LinkRefused(result));
        }
        let mini = has_cap(&reply.common_caps, COMMON_CAP_MINI_HEADER)
            && has_cap(&params.common_caps, COMMON_CAP_MINI_HEADER);
        Ok(Channel {
            stream,
            rbuf: buf,
            pending: VecDeque::new(),
            mini,
            out_serial: 0,
            channel_type: params.channel_type,
            channel_id: params.channel_id,
            server_common_caps: reply.common_caps,
            server_channel_caps: reply.channel_caps,
            auto_ack: true,
            auto_pong: true,
            ack_window: 0,
            ack_left: 0,
            received: 0,
            acks_sent: 0,
            pongs_sent: 0,
        })
    }
}

// ---------------------------------------------------------------------------
// Channels

/// One linked channel.
#[derive(Debug)]
pub struct Channel {
    stream: TcpStream,
    rbuf: Vec<u8>,
    pending: VecDeque<(u16, Vec<u8>)>,
    mini: bool,
    out_serial: u64,
    /// Channel type.
    pub channel_type: u8,
    /// Channel instance.
    pub channel_id: u8,
    /// Common caps the server announced in its link reply.
    pub server_common_caps: Vec<u32>,
    /// Channel caps the server announced in its link reply.
    pub server_channel_caps: Vec<u32>,
    /// Answer SET_ACK with ACK_SYNC and send one ACK per window (default on).
    pub auto_ack: bool,
    /// Answer PING with PONG (default on).
    pub auto_pong: bool,
    ack_window: u32,
    ack_left: u32,
    /// Messages received (a LIST counts once).
    pub received: u64,
    /// ACK messages sent.
    pub acks_sent: u64,
    /// PONG messages sent.
    pub pongs_sent: u64,
}

impl Channel {
    /// True when the 6-byte mini header is in use.
    pub fn mini_header(&self) -> bool {
        self.mini
    }

    /// The client's own address (the `peer` the server logs).
    pub fn local_addr(&self) -> SocketAddr {
        self.stream
            .local_addr()
            .expect("local_addr of a connected socket")
    }

    /// Sends one message with the negotiated header.
    pub fn send(&mut self, msg_type: u16, body: &[u8]) -> Result<()> {
        let mut b = Vec::with_capacity(18 + body.len());
        self.out_serial += 1;
        if self.mini {
            b.put_u16(msg_type).put_u32(body.len() as u32);
        } else {
            b.put_u64(self.out_serial)
                .put_u16(msg_type)
                .put_u32(body.len() as u32)
                .put_u32(0);
        }
        b.extend_from_slice(body);
        write_all(&mut self.stream, &b)
    }

    /// Writes raw bytes (no header added).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        write_all(&mut self.stream, bytes)
    }

    /// Receives the next message (type, body) within `timeout`. SET_ACK and
    /// PING are answered as configured and still returned. LISTs are
    /// returned as their sub-messages, one at a time.
    pub fn recv(&mut self, timeout: Duration) -> Result<(u16, Vec<u8>)> {
        self.recv_until_deadline(Instant::now() + timeout)
    }

    fn recv_until_deadline(&mut self, deadline: Instant) -> Result<(u16, Vec<u8>)> {
        if let Some(m) = self.pending.pop_front() {
            return Ok(m);
        }
        let hlen = if self.mini { 6 } else { 18 };
        fill_to(
            &mut self.stream,
            &mut self.rbuf,
            hlen,
            deadline,
            "a message header",
        )?;
        let mut c = Cursor::new(&self.rbuf[..hlen]);
        if !self.mini {
            c.u64()?;
        }
        let msg_type = c.u16()?;
        let size = c.u32()? as usize;
        if size > MAX_BODY {
            return Err(ClientError::Protocol(format!(
                "message type {msg_type} announces {size} bytes"
            )));
        }
        fill_to(
            &mut self.stream,
            &mut self.rbuf,
            hlen + size,
            deadline,
            "a message body",
        )?;
        let body: Vec<u8> = self.rbuf[hlen..hlen + size].to_vec();
        self.rbuf.drain(..hlen + size);
        self.received += 1;
        self.count_for_ack()?;
        let msgs = if msg_type == MSG_LIST {
            split_list(&body)?
        } else {
            vec![(msg_type, body)]
        };
        for (t, b) in &msgs {
            self.auto_answer(*t, b)?;
        }
        self.pending.extend(msgs);
        match self.pending.pop_front() {
            Some(m) => Ok(m),
            // An empty LIST: keep reading.
            None => self.recv_until_deadline(deadline),
        }
    }

    fn count_for_ack(&mut self) -> Result<()> {
        if !self.auto_ack || self.ack_left == 0 {
            return Ok(());
        }
        self.ack_left -= 1;
        if self.ack_left == 0 {
            self.send(MSGC_ACK, &[])?;
            self.acks_sent += 1;
            self.ack_left = self.ack_window;
        }
        Ok(())
    }

    fn auto_answer(&mut self, msg_type: u16, body: &[u8]) -> Result<()> {
        match msg_type {
            MSG_SET_ACK if self.auto_ack => {
                let mut c = Cursor::new(body);
                let generation = c.u32()?;
                let window = c.u32()?;
                self.ack_window = window;
                self.ack_left = window;
                let mut b = Vec::new();
                b.put_u32(generation);
                self.send(MSGC_ACK_SYNC, &b)?;
            }
            MSG_PING if self.auto_pong => {
                let mut c = Cursor::new(body);
                let id = c.u32()?;
                let ts = c.u64()?;
                let mut b = Vec::new();
                b.put_u32(id).put_u64(ts);
                self.send(MSGC_PONG, &b)?;
                self.pongs_sent += 1;
            }
            _ => {}
        }
        Ok(())
    }

    /// Receives until a message of type `want` arrives (others are dropped,
    /// after automatic answers) or `timeout` passes.
    pub fn recv_type(&mut self, want: u16, timeout: Duration) -> Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let (t, body) = self.recv_until_deadline(deadline).map_err(|e| match e {
                ClientError::Timeout(s) => {
                    ClientError::Timeout(format!("message type {want}: {s}"))
                }
                e => e,
            })?;
            if t == want {
                return Ok(body);
            }
        }
    }

    /// Receives everything that arrives during `period` (bounded by
    /// `max` messages) and returns the types seen. A close ends it early
    /// with an error.
    pub fn drain_for(&mut self, period: Duration, max: usize) -> Result<Vec<u16>> {
        let deadline = Instant::now() + period;
        let mut types = Vec::new();
        while types.len() < max {
            match self.recv_until_deadline(deadline) {
                Ok((t, _)) => types.push(t),
                Err(ClientError::Timeout(_)) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(types)
    }

    /// Waits (at most `timeout`) for the server to close this connection,
    /// discarding whatever arrives. Returns the bytes seen before the close.
    pub fn wait_closed(&mut self, timeout: Duration) -> Result<usize> {
        wait_closed(&mut self.stream, timeout)
    }

    /// Closes the write side (the server sees EOF).
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

/// Splits a SPICE_MSG_LIST body into its sub-messages.
pub fn split_list(body: &[u8]) -> Result<Vec<(u16, Vec<u8>)>> {
    let mut c = Cursor::new(body);
    let count = c.u16()? as usize;
    let mut out = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let off = c.u32()? as usize;
        let mut s = Cursor::new(body.get(off..).ok_or_else(|| {
            ClientError::Protocol(format!("LIST offset {off} beyond {} bytes", body.len()))
        })?);
        let t = s.u16()?;
        let size = s.u32()? as usize;
        out.push((t, s.bytes(size)?.to_vec()));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Raw connections for malformed input

/// A TCP connection that sends whatever the test wants.
#[derive(Debug)]
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> Result<RawConn> {
        let stream = TcpStream::connect_timeout(&addr, LINK_TIMEOUT)?;
        stream.set_nodelay(true)?;
        Ok(RawConn {
            stream,
            buf: Vec::new(),
        })
    }

    /// The client's own address (the `peer` the server logs).
    pub fn local_addr(&self) -> SocketAddr {
        self.stream
            .local_addr()
            .expect("local_addr of a connected socket")
    }

    /// Writes bytes. A server that already closed gives [`ClientError::Closed`].
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        write_all(&mut self.stream, bytes)
    }

    /// Reads a link reply (header + body) within `timeout`.
    pub fn read_link_reply(&mut self, timeout: Duration) -> Result<LinkReply> {
        read_link_reply(&mut self.stream, &mut self.buf, Instant::now() + timeout)
    }

    /// Reads exactly `n` bytes within `timeout`.
    pub fn read_exact(&mut self, n: usize, timeout: Duration) -> Result<Vec<u8>> {
        fill_to(
            &mut self.stream,
            &mut self.buf,
            n,
            Instant::now() + timeout,
            "raw bytes",
        )?;
        Ok(self.buf.drain(..n).collect())
    }

    /// Waits (at most `timeout`) for the server to close the connection.
    /// Returns the number of bytes that arrived before the close.
    pub fn wait_closed(&mut self, timeout: Duration) -> Result<usize> {
        let buffered = std::mem::take(&mut self.buf).len();
        Ok(buffered + wait_closed(&mut self.stream, timeout)?)
    }
}

// ---------------------------------------------------------------------------
// Sessions

/// MAIN INIT (8 × u32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MainInit {
    /// The session id (connection id for later links).
    pub session_id: u32,
    /// Number of displays.
    pub display_channels_hint: u32,
    /// Mouse modes the server supports (SERVER 1, CLIENT 2).
    pub supported_mouse_modes: u32,
    /// The current mouse mode.
    pub current_mouse_mode: u32,
    /// Whether an agent is connected.
    pub agent_connected: u32,
    /// Tokens for client AGENT_DATA.
    pub agent_tokens: u32,
    /// Server multimedia time.
    pub multi_media_time: u32,
    /// RAM hint.
    pub ram_hint: u32,
}

impl MainInit {
    /// Parses the 32-byte body.
    pub fn parse(body: &[u8]) -> Result<MainInit> {
        let mut c = Cursor::new(body);
        Ok(MainInit {
            session_id: c.u32()?,
            display_channels_hint: c.u32()?,
            supported_mouse_modes: c.u32()?,
            current_mouse_mode: c.u32()?,
            agent_connected: c.u32()?,
            agent_tokens: c.u32()?,
            multi_media_time: c.u32()?,
            ram_hint: c.u32()?,
        })
    }
}

/// Parses a CHANNELS_LIST body: u32 n, n × {u8 type, u8 id}.
pub fn parse_channels_list(body: &[u8]) -> Result<Vec<(u8, u8)>> {
    let mut c = Cursor::new(body);
    let n = c.u32()? as usize;
    if n > 256 {
        return Err(ClientError::Protocol(format!(
            "CHANNELS_LIST of {n} entries"
        )));
    }
    (0..n).map(|_| Ok((c.u8()?, c.u8()?))).collect()
}

/// A connected session: its main channel and what the server told it.
#[derive(Debug)]
pub struct Session {
    /// Server address.
    pub addr: SocketAddr,
    password: String,
    /// The main channel.
    pub main: Channel,
    /// MAIN INIT as received.
    pub init: MainInit,
    /// The session id from INIT (non-zero).
    pub session_id: u32,
    /// CHANNELS_LIST as received: (type, id).
    pub channels: Vec<(u8, u8)>,
}

/// How long to wait for INIT and CHANNELS_LIST.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(10);

impl Session {
    /// Links a main channel (connection id 0), waits for INIT, sends
    /// ATTACH_CHANNELS and waits for CHANNELS_LIST.
    pub fn connect(addr: SocketAddr, password: &str) -> Result<Session> {
        let mut main = Link::connect(
            addr,
            CHANNEL_MAIN,
            0,
            0,
            password,
            &default_common_caps(),
            &[],
        )?;
        let init = MainInit::parse(&main.recv_type(MSG_MAIN_INIT, SESSION_TIMEOUT)?)?;
        if init.session_id == 0 {
            return Err(ClientError::Protocol("MAIN INIT with session_id 0".into()));
        }
        main.send(MSGC_MAIN_ATTACH_CHANNELS, &[])?;
        let channels =
            parse_channels_list(&main.recv_type(MSG_MAIN_CHANNELS_LIST, SESSION_TIMEOUT)?)?;
        Ok(Session {
            addr,
            password: password.to_owned(),
            main,
            session_id: init.session_id,
            init,
            channels,
        })
    }

    /// Links another channel of this session.
    pub fn open(&self, channel_type: u8, channel_id: u8, channel_caps: &[u32]) -> Result<Channel> {
        Link::connect(
            self.addr,
            channel_type,
            channel_id,
            self.session_id,
            &self.password,
            &default_common_caps(),
            channel_caps,
        )
    }

    /// Links display channel `id` (announcing MONITORS_CONFIG) and sends
    /// DISPLAY_INIT as spice-gtk does (cache id 1 of 20 Mi pixels, GLZ
    /// dictionary 1 with a 3 Mi-pixel window). [`ClientSurface`] decodes
    /// bitmaps only, so the channel first asks for them with
    /// PREFERRED_COMPRESSION off, as `spicy --spice-preferred-compression=off`
    /// does, whatever the server's own image compression.
    pub fn open_display(&self, id: u8) -> Result<Channel> {
        self.open_display_with_cache(id, DEFAULT_PIXMAP_CACHE_PIXELS)
    }

    /// Like [`Session::open_display`], announcing a pixmap cache of
    /// `cache_pixels` (give the same number to [`ClientSurface::with_cache`]).
    pub fn open_display_with_cache(&self, id: u8, cache_pixels: i64) -> Result<Channel> {
        let mut ch = self.open(
            CHANNEL_DISPLAY,
            id,
            &caps(&[DISPLAY_CAP_MONITORS_CONFIG, DISPLAY_CAP_PREF_COMPRESSION]),
        )?;
        // Before DISPLAY_INIT: the server draws nothing until INIT, so no
        // image can go out in the server's codec first.
        ch.send(MSGC_DISPLAY_PREFERRED_COMPRESSION, &[IMAGE_COMPRESSION_OFF])?;
        ch.send(MSGC_DISPLAY_INIT, &display_init_body_with(cache_pixels))?;
        Ok(ch)
    }

    /// Links display channel `id` like [`Session::open_display`] but
    /// states no preference: the server's image compression applies.
    pub fn open_display_server_codec(&self, id: u8) -> Result<Channel> {
        let mut ch = self.open(CHANNEL_DISPLAY, id, &caps(&[DISPLAY_CAP_MONITORS_CONFIG]))?;
        ch.send(MSGC_DISPLAY_INIT, &display_init_body())?;
        Ok(ch)
    }

    /// Links the inputs channel.
    pub fn open_inputs(&self) -> Result<Channel> {
        self.open(CHANNEL_INPUTS, 0, &[])
    }
}

// ---------------------------------------------------------------------------
// Message bodies

/// The pixmap cache spice-gtk announces by default (80 MiB of 4-byte pixels).
pub const DEFAULT_PIXMAP_CACHE_PIXELS: i64 = 20 * 1024 * 1024;

/// DISPLAY_INIT: u8 cache id, i64 cache size, u8 dictionary id, i32 window.
pub fn display_init_body() -> Vec<u8> {
    display_init_body_with(DEFAULT_PIXMAP_CACHE_PIXELS)
}

/// DISPLAY_INIT announcing a pixmap cache of `cache_pixels`.
pub fn display_init_body_with(cache_pixels: i64) -> Vec<u8> {
    let mut b = Vec::new();
    b.put_u8(1)
        .put_i64(cache_pixels)
        .put_u8(1)
        .put_i32(3 * 1024 * 1024);
    b
}

/// KEY_DOWN / KEY_UP body: u32 scancode bytes in wire order.
pub fn key_body(code: u32) -> Vec<u8> {
    code.to_le_bytes().to_vec()
}

/// KEY_MODIFIERS body: u16 flags.
pub fn modifiers_body(flags: u16) -> Vec<u8> {
    flags.to_le_bytes().to_vec()
}

/// MOUSE_MOTION body: i32 dx, i32 dy, u16 buttons.
pub fn motion_body(dx: i32, dy: i32, buttons: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.put_i32(dx).put_i32(dy).put_u16(buttons);
    b
}

/// MOUSE_PRESS / MOUSE_RELEASE body: u8 button, u16 buttons state after.
pub fn button_body(button: u8, buttons: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.put_u8(button).put_u16(buttons);
    b
}

// ---------------------------------------------------------------------------
// Display drawing (for checking what a display channel shows)

/// Display, server → client: INVAL_LIST.
pub const MSG_DISPLAY_INVAL_LIST: u16 = 105;
/// Display, server → client: INVAL_PALETTE.
pub const MSG_DISPLAY_INVAL_PALETTE: u16 = 107;
/// Display, server → client: INVAL_ALL_PIXMAPS.
pub const MSG_DISPLAY_INVAL_ALL_PIXMAPS: u16 = 106;
/// Display, server → client: INVAL_ALL_PALETTES.
pub const MSG_DISPLAY_INVAL_ALL_PALETTES: u16 = 108;
/// Display, server → client: SURFACE_DESTROY.
pub const MSG_DISPLAY_SURFACE_DESTROY: u16 = 315;
/// Cursor, server → client: INIT.
pub const MSG_CURSOR_INIT: u16 = 101;
/// Cursor, server → client: SET.
pub const MSG_CURSOR_SET: u16 = 103;

/// A SpiceRect: top, left, bottom, right (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireRect {
    /// First row.
    pub top: i32,
    /// First column.
    pub left: i32,
    /// Row after the last.
    pub bottom: i32,
    /// Column after the last.
    pub right: i32,
}

impl WireRect {
    fn read(c: &mut Cursor<'_>) -> Result<WireRect> {
        let mut v = [0i32; 4];
        for x in &mut v {
            *x = c.u32()? as i32;
        }
        Ok(WireRect {
            top: v[0],
            left: v[1],
            bottom: v[2],
            right: v[3],
        })
    }

    /// True when this box covers all of a `width` × `height` surface.
    pub fn covers(&self, width: u32, height: u32) -> bool {
        self.top <= 0
            && self.left <= 0
            && i64::from(self.bottom) >= i64::from(height)
            && i64::from(self.right) >= i64::from(width)
    }
}

/// The start of a DRAW_* body (SpiceMsgDisplayBase) and DRAW_COPY's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawCopyHead {
    /// Target surface.
    pub surface_id: u32,
    /// Destination box.
    pub dest: WireRect,
    /// Clip rectangles (empty for clip NONE).
    pub clip_rects: Vec<WireRect>,
    /// Body offset of the source image.
    pub image_offset: u32,
    /// Source area of the image.
    pub src_area: WireRect,
}

/// Decodes a BITMAP image payload (after the descriptor) into R,G,B rows
/// and, for RGBA, its alpha: 32-bit, 24-bit, or 1/4/8-bit indexed with a
/// palette found inline (at a body offset) or in `palettes`, which it
/// updates as PAL_CACHE_ME asks.
fn decode_bitmap(
    c: &mut Cursor<'_>,
    body: &[u8],
    iw: u32,
    ih: u32,
    palettes: &mut std::collections::HashMap<u64, Vec<u32>>,
) -> Result<Tile> {
    let format = c.u8()?;
    let bflags = c.u8()?;
    let bw = c.u32()?;
    let bh = c.u32()?;
    let stride = c.u32()? as usize;
    let palette = if bflags & 2 != 0 {
        let id = c.u64()?;
        let p = palettes.get(&id).cloned().ok_or_else(|| {
            ClientError::Protocol(format!("PAL_FROM_CACHE of palette {id:#x}, not cached"))
        })?;
        Some(p)
    } else {
        match c.u32()? {
            0 => None,
            at => {
                let mut pc = Cursor::new(body.get(at as usize..).ok_or_else(|| {
                    ClientError::Protocol(format!("palette offset {at} beyond the body"))
                })?);
                let id = pc.u64()?;
                let n = pc.u16()?;
                let entries = (0..n).map(|_| pc.u32()).collect::<Result<Vec<_>>>()?;
                if bflags & 1 != 0 {
                    palettes.insert(id, entries.clone());
                }
                Some(entries)
            }
        }
    };
    let bits = match format {
        2 => 1,
        4 => 4,
        5 => 8,
        7 => 24,
        8 | 9 => 32,
        _ => {
            return Err(ClientError::Protocol(format!(
                "bitmap format {format} is not decoded here"
            )))
        }
    };
    if bw != iw || bh != ih || bw == 0 || bw > 8192 || bh > 8192 {
        return Err(ClientError::Protocol(format!(
            "{bw}x{bh} bitmap in a {iw}x{ih} image"
        )));
    }
    if (bits <= 8) != palette.is_some() {
        return Err(ClientError::Protocol(format!(
            "bitmap format {format} with palette {:?}",
            palette.as_ref().map(Vec::len)
        )));
    }
    if stride < (bw as usize * bits).div_ceil(8) {
        return Err(ClientError::Protocol(format!(
            "stride {stride} for a {bw}x{bh} bitmap of {bits} bits"
        )));
    }
    let data = c.bytes(stride.saturating_mul(bh as usize))?;
    let top_down = bflags & 4 != 0;
    let mut rgb = Vec::with_capacity(bw as usize * bh as usize * 3);
    let mut alpha = (format == 9).then(|| Vec::with_capacity(bw as usize * bh as usize));
    for row in 0..bh as usize {
        let src_row = if top_down { row } else { bh as usize - 1 - row };
        let line = &data[src_row * stride..][..stride];
        for x in 0..bw as usize {
            let px = match bits {
                24 => [line[x * 3 + 2], line[x * 3 + 1], line[x * 3]],
                32 => {
                    if let Some(alpha) = &mut alpha {
                        alpha.push(line[x * 4 + 3]);
                    }
                    [line[x * 4 + 2], line[x * 4 + 1], line[x * 4]]
                }
                _ => {
                    let per = 8 / bits;
                    let i = (line[x / per] >> (8 - bits * (x % per + 1))) & (0xffu8 >> (8 - bits));
                    let e = palette
                        .as_ref()
                        .and_then(|p| p.get(usize::from(i)))
                        .copied()
                        .ok_or_else(|| {
                            ClientError::Protocol(format!("palette index {i} out of range"))
                        })?;
                    [(e >> 16) as u8, (e >> 8) as u8, e as u8]
                }
            };
            rgb.extend_from_slice(&px);
        }
    }
    Ok(Tile {
        width: bw,
        height: bh,
        rgb,
        alpha,
    })
}

/// Parses the fixed part of a DRAW_COPY body.
pub fn parse_draw_copy_head(body: &[u8]) -> Result<DrawCopyHead> {
    let mut c = Cursor::new(body);
    let surface_id = c.u32()?;
    let dest = WireRect::read(&mut c)?;
    let clip_type = c.u8()?;
    let clip_rects = match clip_type {
        0 => Vec::new(),
        1 => {
            let n = c.u32()? as usize;
            if n > 4096 {
                return Err(ClientError::Protocol(format!("{n} clip rectangles")));
            }
            (0..n)
                .map(|_| WireRect::read(&mut c))
                .collect::<Result<_>>()?
        }
        t => return Err(ClientError::Protocol(format!("clip type {t}"))),
    };
    let image_offset = c.u32()?;
    let src_area = WireRect::read(&mut c)?;
    Ok(DrawCopyHead {
        surface_id,
        dest,
        clip_rects,
        image_offset,
        src_area,
    })
}

/// The client's copy of surface 0: applies SURFACE_CREATE/DESTROY and
/// DRAW_COPY messages whose image is a plain 32-bit bitmap (the only codec
/// a client without the LZ4 capability gets) or a reference to its pixmap
/// cache, which it keeps the way spice-gtk does: CACHE_ME images stored
/// under their id, INVAL_LIST and INVAL_ALL_PIXMAPS obeyed. It checks what
/// a server must never do: reference an id it does not hold, or make it
/// hold more pixels than it announced.
#[derive(Debug, Clone)]
pub struct ClientSurface {
    /// Width × height, once SURFACE_CREATE arrived for surface 0.
    pub size: Option<(u32, u32)>,
    /// R,G,B bytes, row by row.
    pub rgb: Vec<u8>,
    /// One byte per pixel: the alpha an RGBA image left there, 0xff where
    /// an opaque image was drawn (meaningful on an ARGB surface).
    pub alpha: Vec<u8>,
    /// The `SURFACE_FMT_*` of surface 0.
    pub format: u32,
    /// DRAW_COPY messages applied.
    pub draws: u64,
    /// The pixmap cache size announced in DISPLAY_INIT, in pixels.
    pub cache_limit: u64,
    /// Cached images by id.
    pub cache: std::collections::HashMap<u64, Tile>,
    /// Pixels held in `cache`.
    pub cache_used: u64,
    /// Draws whose image came from the cache.
    pub cache_hits: u64,
    /// Draws that asked for their image to be cached.
    pub cache_stores: u64,
    /// Ids removed by INVAL_LIST.
    pub cache_evictions: u64,
    /// Cached palettes by id.
    pub palettes: std::collections::HashMap<u64, Vec<u32>>,
}

impl Default for ClientSurface {
    fn default() -> Self {
        Self::with_cache(DEFAULT_PIXMAP_CACHE_PIXELS)
    }
}

/// A decoded source image.
#[derive(Clone, Debug)]
pub struct Tile {
    pub width: u32,
    pub height: u32,
    /// R,G,B rows.
    pub rgb: Vec<u8>,
    /// One alpha byte per pixel, for RGBA bitmaps only.
    pub alpha: Option<Vec<u8>>,
}

impl ClientSurface {
    /// A surface whose pixmap cache holds `cache_pixels` (as announced with
    /// [`Session::open_display_with_cache`]).
    pub fn with_cache(cache_pixels: i64) -> Self {
        Self {
            size: None,
            rgb: Vec::new(),
            alpha: Vec::new(),
            format: 0,
            draws: 0,
            cache_limit: u64::try_from(cache_pixels).unwrap_or(0),
            cache: Default::default(),
            cache_used: 0,
            cache_hits: 0,
            cache_stores: 0,
            cache_evictions: 0,
            palettes: Default::default(),
        }
    }

    /// Applies one display message. Returns `Some(head)` for a DRAW_COPY
    /// (after painting it), `None` for anything else. Images other than
    /// top-down 32-bit bitmaps and cache references are a protocol error.
    pub fn apply(&mut self, msg_type: u16, body: &[u8]) -> Result<Option<DrawCopyHead>> {
        match msg_type {
            MSG_DISPLAY_SURFACE_CREATE => {
                let mut c = Cursor::new(body);
                let id = c.u32()?;
                let w = c.u32()?;
                let h = c.u32()?;
                let format = c.u32()?;
                if id == 0 {
                    if w == 0 || h == 0 || w > 8192 || h > 8192 {
                        return Err(ClientError::Protocol(format!("surface of {w}x{h}")));
                    }
                    self.size = Some((w, h));
                    self.format = format;
                    self.rgb = vec![0; w as usize * h as usize * 3];
                    self.alpha = vec![0; w as usize * h as usize];
                }
                Ok(None)
            }
            MSG_DISPLAY_SURFACE_DESTROY => {
                let mut c = Cursor::new(body);
                if c.u32()? == 0 {
                    self.size = None;
                    self.rgb.clear();
                    self.alpha.clear();
                }
                Ok(None)
            }
            MSG_DISPLAY_INVAL_LIST => {
                let mut c = Cursor::new(body);
                let count = c.u16()?;
                for _ in 0..count {
                    let res_type = c.u8()?;
                    let id = c.u64()?;
                    if res_type != 1 {
                        return Err(ClientError::Protocol(format!(
                            "INVAL_LIST resource type {res_type}"
                        )));
                    }
                    let Some(Tile {
                        width: w,
                        height: h,
                        ..
                    }) = self.cache.remove(&id)
                    else {
                        return Err(ClientError::Protocol(format!(
                            "INVAL_LIST names id {id:#x}, which is not cached"
                        )));
                    };
                    self.cache_used -= u64::from(w) * u64::from(h);
                    self.cache_evictions += 1;
                }
                Ok(None)
            }
            MSG_DISPLAY_INVAL_PALETTE => {
                let mut c = Cursor::new(body);
                let id = c.u64()?;
                if self.palettes.remove(&id).is_none() {
                    return Err(ClientError::Protocol(format!(
                        "INVAL_PALETTE names palette {id:#x}, which is not cached"
                    )));
                }
                Ok(None)
            }
            MSG_DISPLAY_INVAL_ALL_PALETTES => {
                self.palettes.clear();
                Ok(None)
            }
            MSG_DISPLAY_INVAL_ALL_PIXMAPS => {
                self.cache.clear();
                self.cache_used = 0;
                Ok(None)
            }
            MSG_DISPLAY_DRAW_COPY => {
                let head = parse_draw_copy_head(body)?;
                self.paint(&head, body)?;
                self.draws += 1;
                Ok(Some(head))
            }
            _ => Ok(None),
        }
    }

    /// Decodes the source image of a DRAW_COPY (bitmap or cache reference)
    /// and stores it when it is marked CACHE_ME.
    fn source(&mut self, body: &[u8], img: &[u8]) -> Result<Tile> {
        let mut c = Cursor::new(img);
        let id = c.u64()?;
        let image_type = c.u8()?;
        let flags = c.u8()?;
        let iw = c.u32()?;
        let ih = c.u32()?;
        let tile = match image_type {
            0 => decode_bitmap(&mut c, body, iw, ih, &mut self.palettes)?,
            103 => {
                let tile = self.cache.get(&id).cloned().ok_or_else(|| {
                    ClientError::Protocol(format!(
                        "FROM_CACHE of id {id:#x}, which the client does not hold \
                         (spice-gtk would wait for it forever)"
                    ))
                })?;
                if (tile.width, tile.height) != (iw, ih) {
                    return Err(ClientError::Protocol(format!(
                        "FROM_CACHE {id:#x} says {iw}x{ih}, cached {}x{}",
                        tile.width, tile.height
                    )));
                }
                self.cache_hits += 1;
                tile
            }
            other => {
                return Err(ClientError::Protocol(format!(
                    "image type {other} (only bitmaps and cache references are decoded here)"
                )))
            }
        };
        if flags & 1 != 0 {
            if self.cache.contains_key(&id) {
                return Err(ClientError::Protocol(format!(
                    "CACHE_ME for id {id:#x}, which is already cached"
                )));
            }
            self.cache_used += u64::from(iw) * u64::from(ih);
            if self.cache_used > self.cache_limit {
                return Err(ClientError::Protocol(format!(
                    "the pixmap cache would hold {} pixels, over the {} announced",
                    self.cache_used, self.cache_limit
                )));
            }
            self.cache.insert(id, tile.clone());
            self.cache_stores += 1;
        }
        Ok(tile)
    }

    fn paint(&mut self, head: &DrawCopyHead, body: &[u8]) -> Result<()> {
        if head.surface_id != 0 {
            return Ok(());
        }
        let Some((sw, sh)) = self.size else {
            return Err(ClientError::Protocol(
                "DRAW_COPY on surface 0 before its SURFACE_CREATE".into(),
            ));
        };
        let img = body.get(head.image_offset as usize..).ok_or_else(|| {
            ClientError::Protocol(format!("image offset {} beyond body", head.image_offset))
        })?;
        let tile = self.source(body, img)?;
        let (bw, bh, data) = (tile.width, tile.height, &tile.rgb);
        let d = head.dest;
        let (dw, dh) = (
            i64::from(d.right) - i64::from(d.left),
            i64::from(d.bottom) - i64::from(d.top),
        );
        let s = head.src_area;
        if d.left < 0
            || d.top < 0
            || i64::from(d.right) > i64::from(sw)
            || i64::from(d.bottom) > i64::from(sh)
            || dw != i64::from(s.right) - i64::from(s.left)
            || dh != i64::from(s.bottom) - i64::from(s.top)
            || s.left < 0
            || s.top < 0
            || i64::from(s.right) > i64::from(bw)
            || i64::from(s.bottom) > i64::from(bh)
            || !head.clip_rects.is_empty()
        {
            return Err(ClientError::Protocol(format!(
                "DRAW_COPY dest {d:?} src {s:?} clip {:?} on {sw}x{sh} from a {bw}x{bh} image: \
                 not a plain unscaled copy",
                head.clip_rects
            )));
        }
        for row in 0..dh as usize {
            let from = ((s.top as usize + row) * bw as usize + s.left as usize) * 3;
            let to = ((d.top as usize + row) * sw as usize + d.left as usize) * 3;
            let n = dw as usize * 3;
            self.rgb[to..to + n].copy_from_slice(&data[from..from + n]);
            let (from, to, n) = (from / 3, to / 3, n / 3);
            match &tile.alpha {
                Some(alpha) => self.alpha[to..to + n].copy_from_slice(&alpha[from..from + n]),
                None => self.alpha[to..to + n].fill(0xff),
            }
        }
        Ok(())
    }

    /// The surface as an [`Image`](crate::image::Image), if it exists.
    pub fn image(&self) -> Option<crate::image::Image> {
        let (width, height) = self.size?;
        Some(crate::image::Image {
            width,
            height,
            rgb: self.rgb.clone(),
        })
    }
}

/// What a display channel received until its picture was complete.
#[derive(Debug, Clone, Default)]
pub struct RedrawLog {
    /// Every message type received, in order (bounded by the caller's limit).
    pub types: Vec<u16>,
    /// Generations of the SET_ACK messages received.
    pub set_ack_generations: Vec<u32>,
    /// Index in `types` of the DRAW_COPY that covered the whole surface.
    pub full_draw_at: Option<usize>,
    /// Its destination box.
    pub full_draw_dest: Option<WireRect>,
    /// How long it took from the call until that draw was fully received.
    pub elapsed: Duration,
    /// Bodies of the messages other than DRAW_COPY that were at most 256
    /// bytes long, with their types, in order.
    pub small_bodies: Vec<(u16, Vec<u8>)>,
}

impl RedrawLog {
    /// Index of the first message of type `t`, if any.
    pub fn position(&self, t: u16) -> Option<usize> {
        self.types.iter().position(|&x| x == t)
    }

    /// The body of the first message of type `t` kept in `small_bodies`.
    pub fn small_body(&self, t: u16) -> Option<&[u8]> {
        self.small_bodies
            .iter()
            .find(|(x, _)| *x == t)
            .map(|(_, b)| b.as_slice())
    }
}

/// Reads `display` (at most `timeout`, at most `max_messages`), applying
/// every message to `surface`, until a DRAW_COPY on surface 0 whose
/// destination covers the whole surface has been received and painted.
pub fn wait_full_draw(
    display: &mut Channel,
    surface: &mut ClientSurface,
    timeout: Duration,
    max_messages: usize,
) -> Result<RedrawLog> {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut log = RedrawLog::default();
    while log.types.len() < max_messages {
        let (t, body) = display.recv_until_deadline(deadline).map_err(|e| match e {
            ClientError::Timeout(s) => ClientError::Timeout(format!(
                "a full-surface DRAW_COPY ({s}); received so far: {:?}",
                log.types
            )),
            e => e,
        })?;
        log.types.push(t);
        if t != MSG_DISPLAY_DRAW_COPY && body.len() <= 256 {
            log.small_bodies.push((t, body.clone()));
        }
        if t == MSG_SET_ACK {
            let mut c = Cursor::new(&body);
            log.set_ack_generations.push(c.u32()?);
        }
        if let Some(head) = surface.apply(t, &body)? {
            if let Some((w, h)) = surface.size {
                if head.surface_id == 0 && head.dest.covers(w, h) {
                    log.full_draw_at = Some(log.types.len() - 1);
                    log.full_draw_dest = Some(head.dest);
                    log.elapsed = start.elapsed();
                    return Ok(log);
                }
            }
        }
    }
    Err(ClientError::Protocol(format!(
        "{max_messages} display messages without a full-surface DRAW_COPY: {:?}",
        log.types
    )))
}

/// Reads `display`, applying every message to `surface`, until nothing has
/// arrived for `quiet`; fails if it is still busy after `max` (or breaks).
/// Returns the message types read. For a frozen picture this makes sure the
/// client holds everything the server meant to send before a test acts.
pub fn drain_until_quiet(
    display: &mut Channel,
    surface: &mut ClientSurface,
    quiet: Duration,
    max: Duration,
) -> Result<Vec<u16>> {
    let deadline = Instant::now() + max;
    let mut types = Vec::new();
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(ClientError::Timeout(format!(
                "the display channel to go quiet for {quiet:?} (still busy after {max:?}; \
                 {} messages: {:?})",
                types.len(),
                &types[types.len().saturating_sub(50)..]
            )));
        }
        match display.recv_until_deadline((now + quiet).min(deadline)) {
            Ok((t, body)) => {
                types.push(t);
                surface.apply(t, &body)?;
            }
            Err(ClientError::Timeout(_)) if Instant::now() < deadline => return Ok(types),
            Err(ClientError::Timeout(_)) => continue,
            Err(e) => return Err(e),
        }
    }
}

impl ClientError {
    /// True for a link refused with CHANNEL_NOT_AVAILABLE, whether in the
    /// link reply or as the link result after the ticket.
    pub fn is_channel_not_available(&self) -> bool {
        matches!(
            self,
            ClientError::LinkReply(LinkErr::ChannelNotAvailable)
                | ClientError::LinkRefused(LinkErr::ChannelNotAvailable)
        )
    }
}

/// Reads `channel` for `period` and fails if the server closed it (or it
/// broke); returns the message types seen. For checking that a connection
/// stays open while something else happens.
pub fn expect_open(channel: &mut Channel, period: Duration) -> Result<Vec<u16>> {
    channel.drain_for(period, 100_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client's numbers and layouts agree with the server's protocol
    /// crate (both were written from the spec; this catches a typo in either).
    #[test]
    fn agrees_with_spicebox_protocol() {
        use spicebox_protocol::consts as p;
        use spicebox_protocol::consts::msg;
        assert_eq!(u32::from_le_bytes(MAGIC), p::SPICE_MAGIC);
        assert_eq!(
            (VERSION_MAJOR, VERSION_MINOR),
            (p::VERSION_MAJOR, p::VERSION_MINOR)
        );
        assert_eq!(TICKET_PUBKEY_BYTES, p::TICKET_PUBKEY_BYTES);
        assert_eq!(ENCRYPTED_TICKET_BYTES, p::TICKET_CIPHERTEXT_SIZE);
        assert_eq!(AUTH_MECHANISM_SPICE, p::AUTH_MECH_SPICE);
        assert_eq!(INPUT_MOTION_ACK_BUNCH, p::INPUT_MOTION_ACK_BUNCH);
        assert_eq!(LINK_HEADER_BYTES, spicebox_protocol::link::LINK_HEADER_SIZE);
        assert_eq!(LINK_MESS_BYTES, spicebox_protocol::link::LINK_MESS_SIZE);
        assert_eq!(LINK_REPLY_BYTES, spicebox_protocol::link::LINK_REPLY_SIZE);
        for (mine, theirs) in [
            (CHANNEL_MAIN, p::ChannelType::Main),
            (CHANNEL_DISPLAY, p::ChannelType::Display),
            (CHANNEL_INPUTS, p::ChannelType::Inputs),
            (CHANNEL_CURSOR, p::ChannelType::Cursor),
            (CHANNEL_PLAYBACK, p::ChannelType::Playback),
            (CHANNEL_RECORD, p::ChannelType::Record),
        ] {
            assert_eq!(mine, theirs.as_u8());
        }
        for v in 0..10 {
            assert_eq!(
                LinkErr::from_u32(v).to_u32(),
                p::LinkErr::try_from(v).expect("known link error").as_u32()
            );
        }
        assert_eq!(COMMON_CAP_AUTH_SELECTION, p::common_cap::AUTH_SELECTION);
        assert_eq!(COMMON_CAP_AUTH_SPICE, p::common_cap::AUTH_SPICE);
        assert_eq!(COMMON_CAP_AUTH_SASL, p::common_cap::AUTH_SASL);
        assert_eq!(COMMON_CAP_MINI_HEADER, p::common_cap::MINI_HEADER);
        assert_eq!(INPUTS_CAP_KEY_SCANCODE, p::inputs_cap::KEY_SCANCODE);
        assert_eq!(DISPLAY_CAP_MONITORS_CONFIG, p::display_cap::MONITORS_CONFIG);
        assert_eq!(DISPLAY_CAP_LZ4_COMPRESSION, p::display_cap::LZ4_COMPRESSION);
        assert_eq!(
            DISPLAY_CAP_PREF_COMPRESSION,
            p::display_cap::PREF_COMPRESSION
        );
        assert_eq!(
            IMAGE_COMPRESSION_OFF,
            spicebox_protocol::display::IMAGE_COMPRESSION_OFF
        );
        let pairs: &[(u16, u16)] = &[
            (MSG_MIGRATE, msg::common_srv::MIGRATE),
            (MSG_SET_ACK, msg::common_srv::SET_ACK),
            (MSG_PING, msg::common_srv::PING),
            (MSG_WAIT_FOR_CHANNELS, msg::common_srv::WAIT_FOR_CHANNELS),
            (MSG_DISCONNECTING, msg::common_srv::DISCONNECTING),
            (MSG_NOTIFY, msg::common_srv::NOTIFY),
            (MSG_LIST, msg::common_srv::LIST),
            (MSGC_ACK_SYNC, msg::common_cli::ACK_SYNC),
            (MSGC_ACK, msg::common_cli::ACK),
            (MSGC_PONG, msg::common_cli::PONG),
            (MSGC_DISCONNECTING, msg::common_cli::DISCONNECTING),
            (MSG_MAIN_INIT, msg::main_srv::INIT),
            (MSG_MAIN_CHANNELS_LIST, msg::main_srv::CHANNELS_LIST),
            (MSG_MAIN_MOUSE_MODE, msg::main_srv::MOUSE_MODE),
            (MSGC_MAIN_ATTACH_CHANNELS, msg::main_cli::ATTACH_CHANNELS),
            (
                MSGC_MAIN_MOUSE_MODE_REQUEST,
                msg::main_cli::MOUSE_MODE_REQUEST,
            ),
            (MSG_DISPLAY_MARK, msg::display_srv::MARK),
            (MSG_DISPLAY_DRAW_FILL, msg::display_srv::DRAW_FILL),
            (MSG_DISPLAY_DRAW_COPY, msg::display_srv::DRAW_COPY),
            (MSG_DISPLAY_SURFACE_CREATE, msg::display_srv::SURFACE_CREATE),
            (
                MSG_DISPLAY_MONITORS_CONFIG,
                msg::display_srv::MONITORS_CONFIG,
            ),
            (MSGC_DISPLAY_INIT, msg::display_cli::INIT),
            (
                MSGC_DISPLAY_PREFERRED_COMPRESSION,
                msg::display_cli::PREFERRED_COMPRESSION,
            ),
            (MSG_INPUTS_INIT, msg::inputs_srv::INIT),
            (MSG_INPUTS_KEY_MODIFIERS, msg::inputs_srv::KEY_MODIFIERS),
            (
                MSG_INPUTS_MOUSE_MOTION_ACK,
                msg::inputs_srv::MOUSE_MOTION_ACK,
            ),
            (MSGC_INPUTS_KEY_DOWN, msg::inputs_cli::KEY_DOWN),
            (MSGC_INPUTS_KEY_UP, msg::inputs_cli::KEY_UP),
            (MSGC_INPUTS_KEY_MODIFIERS, msg::inputs_cli::KEY_MODIFIERS),
            (MSGC_INPUTS_KEY_SCANCODE, msg::inputs_cli::KEY_SCANCODE),
            (MSGC_INPUTS_MOUSE_MOTION, msg::inputs_cli::MOUSE_MOTION),
            (MSGC_INPUTS_MOUSE_POSITION, msg::inputs_cli::MOUSE_POSITION),
            (MSGC_INPUTS_MOUSE_PRESS, msg::inputs_cli::MOUSE_PRESS),
            (MSGC_INPUTS_MOUSE_RELEASE, msg::inputs_cli::MOUSE_RELEASE),
        ];
        for (i, (mine, theirs)) in pairs.iter().enumerate() {
            assert_eq!(mine, theirs, "message number #{i} differs");
        }
    }

    #[test]
    fn link_messages_agree_with_spicebox_protocol() {
        use spicebox_protocol::{Caps, LinkMess, LinkReply as PReply};
        let params = LinkParams {
            channel_type: CHANNEL_INPUTS,
            channel_id: 3,
            connection_id: 0xdead_beef,
            common_caps: vec![0x0b],
            channel_caps: vec![0x1, 0x8000_0000],
        };
        let mine = params.encode();
        let theirs = LinkMess {
            connection_id: 0xdead_beef,
            channel_type: CHANNEL_INPUTS,
            channel_id: 3,
            common_caps: Caps::from_words(vec![0x0b]),
            channel_caps: Caps::from_words(vec![0x1, 0x8000_0000]),
        };
        assert_eq!(mine, theirs.to_bytes(), "LinkMess bytes differ");
        let parsed =
            LinkMess::parse(&mine[LINK_HEADER_BYTES..]).expect("server parses our LinkMess");
        assert_eq!(parsed, theirs);

        let reply = PReply {
            error: spicebox_protocol::LinkErr::Ok,
            pub_key: (0..TICKET_PUBKEY_BYTES as u8).collect(),
            common_caps: Caps::from_words(vec![0x0b]),
            channel_caps: Caps::from_words(vec![0x2]),
        };
        let bytes = reply.to_bytes().expect("reply encodes");
        let ours =
            parse_link_reply_body(2, 2, &bytes[LINK_HEADER_BYTES..]).expect("we parse the reply");
        assert_eq!(ours.error, LinkErr::Ok);
        assert_eq!(ours.pub_key, reply.pub_key);
        assert_eq!(ours.common_caps, vec![0x0b]);
        assert_eq!(ours.channel_caps, vec![0x2]);

        let err = PReply::error_only(spicebox_protocol::LinkErr::VersionMismatch);
        let ours = parse_link_reply_body(2, 2, &err[LINK_HEADER_BYTES..])
            .expect("we parse an error reply");
        assert_eq!(ours.error, LinkErr::VersionMismatch);
    }

    #[test]
    fn link_mess_layout_matches_the_spec() {
        let p = LinkParams {
            channel_type: CHANNEL_DISPLAY,
            channel_id: 0,
            connection_id: 0x1234,
            common_caps: vec![0x0d],
            channel_caps: vec![0x6fbf],
        };
        let b = p.encode();
        assert_eq!(b.len(), 16 + 18 + 8);
        assert_eq!(&b[0..4], b"REDQ");
        assert_eq!(&b[4..8], &2u32.to_le_bytes());
        assert_eq!(&b[8..12], &2u32.to_le_bytes());
        assert_eq!(&b[12..16], &26u32.to_le_bytes());
        assert_eq!(&b[16..20], &0x1234u32.to_le_bytes());
        assert_eq!(b[20], 2);
        assert_eq!(b[21], 0);
        assert_eq!(&b[22..26], &1u32.to_le_bytes());
        assert_eq!(&b[26..30], &1u32.to_le_bytes());
        assert_eq!(&b[30..34], &18u32.to_le_bytes());
        assert_eq!(&b[34..38], &0x0du32.to_le_bytes());
        assert_eq!(&b[38..42], &0x6fbfu32.to_le_bytes());
    }

    #[test]
    fn caps_words() {
        assert_eq!(caps(&[0, 1, 3]), vec![0x0b]);
        assert_eq!(caps(&[33]), vec![0, 2]);
        assert!(has_cap(&[0x0b], 3));
        assert!(!has_cap(&[0x0b], 2));
        assert!(!has_cap(&[], 0));
    }

    #[test]
    fn list_splitting_is_bounds_checked() {
        let mut b = Vec::new();
        b.put_u16(2).put_u32(10).put_u32(16);
        b.put_u16(102).put_u32(0);
        b.put_u16(3).put_u32(2).put_u8(7).put_u8(8);
        let msgs = split_list(&b).unwrap();
        assert_eq!(msgs, vec![(102, vec![]), (3, vec![7, 8])]);
        b.truncate(b.len() - 1);
        assert!(split_list(&b).is_err());
        let mut bad = Vec::new();
        bad.put_u16(1).put_u32(1000);
        assert!(split_list(&bad).is_err());
    }

    #[test]
    fn ticket_decrypts_with_the_private_key() {
        use rsa::pkcs8::EncodePublicKey;
        let private = rsa::PrivateKey::new(&mut rand::rng(), 1024).expect("key generation");
        let der = private
            .to_public_key()
            .to_public_key_der()
            .expect("DER encoding");
        assert_eq!(der.as_bytes().len(), TICKET_PUBKEY_BYTES);
        let ticket = encrypt_ticket(der.as_bytes(), b"secret").unwrap();
        assert_eq!(ticket.len(), ENCRYPTED_TICKET_BYTES);
        let plain = private.oaep_decrypt::<sha1::Sha1>(&ticket).unwrap();
        assert_eq!(plain, b"secret\0");
    }

    #[test]
    fn link_err_round_trip() {
        for v in 0..12 {
            assert_eq!(LinkErr::from_u32(v).to_u32(), v);
        }
        assert_eq!(LinkErr::from_u32(7), LinkErr::PermissionDenied);
    }
}
