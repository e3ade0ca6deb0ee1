//! The `org.qemu.Display1.AudioOutListener` object spicebox serves to
//! QEMU on the peer-to-peer connection of `Audio.RegisterOutListener`
//! (a VM with `-audiodev dbus,id=ID` named by `-display dbus,…,audiodev=ID`).
//!
//! QEMU announces each output voice with `Init` (its PCM format), then
//! `SetEnabled`, `SetVolume` and `Write` (the samples), and `Fini` when the
//! voice goes. Every call is checked against what was announced before it
//! is relayed to the supervisor as [`FromHost`] `AudioOut*` messages; the
//! later playback channel consumes those as they are.
//!
//! Like the display listener, this one runs on a thread and runtime of its
//! own, ready before `RegisterOutListener` is called: QEMU 7.2 runs the
//! handshake on its main thread inside that call, and calls `Init` for
//! the voices it already has before it replies. Only on a bus: QEMU 7.2
//! crashes when an audio listener registers on a peer-to-peer display
//! connection (see docs/qemu.md).

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::thread;

use spicebox_ipc::{FromHost, IpcError, PcmFormat, MAX_AUDIO_CHANNELS, MAX_AUDIO_CHUNK};
use tokio::sync::oneshot;
use zbus::message::Header;
use zbus::{Message, MessageStream};

use super::error::QemuError;
use super::p2p_link::{self, Answer};
use super::Link;
use crate::error::VdiError;
use crate::host::peer_gone;

/// Where QEMU looks for the listener.
const PATH: &str = "/org/qemu/Display1/AudioOutListener";
const INTERFACE: &str = "org.qemu.Display1.AudioOutListener";
/// Streams open at once: QEMU opens one per sound card output voice, a
/// handful; more is a broken producer.
pub(crate) const MAX_STREAMS: usize = 16;
/// The highest sample rate accepted (above any real card's).
const MAX_FREQUENCY: u32 = 384_000;
/// The largest `Write` accepted: QEMU sends a few kilobytes at a time,
/// this is seconds of the widest format.
pub(crate) const MAX_WRITE: usize = 4 * 1024 * 1024;
/// Calls read ahead of the one being relayed.
const MAX_QUEUED: usize = 8;

/// A call QEMU made that does not fit what it announced; answered with
/// an error, nothing relayed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AudioFault {
    /// `Init` announced a format spicebox does not take.
    #[error("unsupported audio format: {0}")]
    Format(String),
    /// A call named a stream that is not open.
    #[error("unknown audio stream {0:#x}")]
    UnknownStream(u64),
    /// `Init` of one stream more than [`MAX_STREAMS`].
    #[error("too many audio streams (at most {MAX_STREAMS})")]
    TooMany,
    /// `SetVolume` with more levels than channels can exist.
    #[error("{0} volume levels (at most {MAX_AUDIO_CHANNELS})")]
    Volume(usize),
    /// `Write` of a size that is not whole frames, or too large.
    #[error("audio write of {len} bytes: {why}")]
    Write {
        /// Its size.
        len: usize,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The arguments do not have the interface's types.
    #[error("bad arguments: {0}")]
    Arguments(String),
}

/// The streams QEMU announced, by its id.
#[derive(Default)]
pub(crate) struct Streams {
    open: HashMap<u64, PcmFormat>,
}

/// `Init`'s arguments after the id, in QEMU's order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Announced {
    pub(crate) bits: u8,
    pub(crate) signed: bool,
    pub(crate) float: bool,
    pub(crate) frequency: u32,
    pub(crate) channels: u8,
    pub(crate) bytes_per_frame: u32,
    pub(crate) bytes_per_second: u32,
    pub(crate) big_endian: bool,
}

impl Announced {
    /// The format, if it is one a PCM stream can have and its sizes agree.
    pub(crate) fn format(self) -> Result<PcmFormat, AudioFault> {
        let bad = |why: String| Err(AudioFault::Format(why));
        if !matches!(self.bits, 8 | 16 | 32) {
            return bad(format!("{} bits per sample", self.bits));
        }
        if self.float && self.bits != 32 {
            return bad(format!("{}-bit float samples", self.bits));
        }
        if self.channels == 0 || usize::from(self.channels) > MAX_AUDIO_CHANNELS {
            return bad(format!("{} channels", self.channels));
        }
        if self.frequency == 0 || self.frequency > MAX_FREQUENCY {
            return bad(format!("{} Hz", self.frequency));
        }
        let frame = u32::from(self.bits / 8) * u32::from(self.channels);
        if self.bytes_per_frame != frame {
            return bad(format!(
                "{} bytes per frame for {} channels of {} bits",
                self.bytes_per_frame, self.channels, self.bits
            ));
        }
        if frame.checked_mul(self.frequency) != Some(self.bytes_per_second) {
            return bad(format!(
                "{} bytes per second for {frame}-byte frames at {} Hz",
                self.bytes_per_second, self.frequency
            ));
        }
        Ok(PcmFormat {
            bits: self.bits,
            signed: self.signed,
            float: self.float,
            big_endian: self.big_endian,
            frequency: self.frequency,
            channels: self.channels,
            bytes_per_frame: self.bytes_per_frame,
            bytes_per_second: self.bytes_per_second,
        })
    }
}

impl Streams {
    /// `Init`: opens `id`, or reopens it with a new format.
    pub(crate) fn init(&mut self, id: u64, announced: Announced) -> Result<FromHost, AudioFault> {
        let format = announced.format()?;
        if !self.open.contains_key(&id) && self.open.len() >= MAX_STREAMS {
            return Err(AudioFault::TooMany);
        }
        self.open.insert(id, format);
        Ok(FromHost::AudioOutOpened { stream: id, format })
    }

    /// `Fini`: `id` is gone.
    pub(crate) fn fini(&mut self, id: u64) -> Result<FromHost, AudioFault> {
        self.open
            .remove(&id)
            .map(|_| FromHost::AudioOutClosed { stream: id })
            .ok_or(AudioFault::UnknownStream(id))
    }

    /// `SetEnabled`.
    pub(crate) fn enabled(&self, id: u64, enabled: bool) -> Result<FromHost, AudioFault> {
        self.format(id)?;
        Ok(FromHost::AudioOutEnabled {
            stream: id,
            enabled,
        })
    }

    /// `SetVolume`.
    pub(crate) fn volume(
        &self,
        id: u64,
        mute: bool,
        volume: &[u8],
    ) -> Result<FromHost, AudioFault> {
        self.format(id)?;
        if volume.len() > MAX_AUDIO_CHANNELS {
            return Err(AudioFault::Volume(volume.len()));
        }
        Ok(FromHost::AudioOutVolume {
            stream: id,
            mute,
            volume: volume.to_vec(),
        })
    }

    /// `Write`: the samples, in chunks of whole frames for the link.
    pub(crate) fn write<'a>(
        &self,
        id: u64,
        pcm: &'a [u8],
    ) -> Result<impl Iterator<Item = FromHost> + 'a, AudioFault> {
        let format = self.format(id)?;
        let frame = usize::try_from(format.bytes_per_frame).unwrap_or(usize::MAX);
        let fault = |why| AudioFault::Write {
            len: pcm.len(),
            why,
        };
        if pcm.len() > MAX_WRITE {
            return Err(fault("larger than spicebox takes at once"));
        }
        if frame == 0 || !pcm.len().is_multiple_of(frame) {
            return Err(fault("not a whole number of frames"));
        }
        // Format validation keeps frames far below a chunk.
        let chunk = (MAX_AUDIO_CHUNK / frame).max(1) * frame;
        Ok(pcm.chunks(chunk).map(move |part| FromHost::AudioOutData {
            stream: id,
            pcm: part.to_vec(),
        }))
    }

    fn format(&self, id: u64) -> Result<PcmFormat, AudioFault> {
        self.open
            .get(&id)
            .copied()
            .ok_or(AudioFault::UnknownStream(id))
    }

    /// Every open stream, closed: the connection went.
    fn close_all(&mut self) -> Vec<FromHost> {
        let mut ids: Vec<u64> = self.open.drain().map(|(id, _)| id).collect();
        ids.sort_unstable();
        ids.into_iter()
            .map(|stream| FromHost::AudioOutClosed { stream })
            .collect()
    }
}

/// Why the audio listener stopped.
pub(crate) enum AudioEnd {
    /// QEMU closed the connection or broke the protocol: the VM goes on
    /// without audio (its display shows whether it is gone).
    Vm(QemuError),
    /// The supervisor closed the link.
    Supervisor,
    /// The link to the supervisor failed.
    Host(VdiError),
}

/// The audio listener on its thread. Dropping it closes the connection;
/// the streams it relayed are then reported closed.
pub(crate) struct AudioListening {
    done: oneshot::Receiver<AudioEnd>,
    _cancel: oneshot::Sender<()>,
}

impl AudioListening {
    /// How it ended, once it has.
    pub(crate) async fn ended(&mut self) -> AudioEnd {
        (&mut self.done).await.unwrap_or_else(|_| {
            tracing::error!("the audio listener thread failed");
            AudioEnd::Vm(QemuError::Closed)
        })
    }
}

/// Starts serving the audio listener on our end of its socket pair,
/// relaying to the supervisor over `link`.
pub(crate) fn start(ours: UnixStream, link: Link) -> Result<AudioListening, VdiError> {
    let (done_tx, done) = oneshot::channel();
    let (cancel, cancelled) = oneshot::channel::<()>();
    thread::Builder::new()
        .name("qemu-audio".into())
        .spawn(move || {
            let mut streams = Streams::default();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let end = match runtime {
                Ok(runtime) => runtime.block_on(async {
                    tokio::select! {
                        end = serve(ours, &mut streams, &link) => Some(end),
                        _ = cancelled => None,
                    }
                }),
                Err(e) => Some(AudioEnd::Host(VdiError::Runtime(e))),
            };
            // The streams went with the connection; a supervisor that is
            // gone has nothing to forget.
            for closed in streams.close_all() {
                if relay(&link, &closed).is_err() {
                    break;
                }
            }
            if let Some(end) = end {
                // Nobody waits any more when the session already ended.
                let _ = done_tx.send(end);
            }
        })
        .map_err(VdiError::Thread)?;
    Ok(AudioListening {
        done,
        _cancel: cancel,
    })
}

fn relay(link: &Link, msg: &FromHost) -> Result<(), IpcError> {
    super::lock_link(link).send(msg)
}

async fn serve(ours: UnixStream, streams: &mut Streams, link: &Link) -> AudioEnd {
    match run(ours, streams, link).await {
        Ok(()) => AudioEnd::Vm(QemuError::Closed),
        Err(end) => end,
    }
}

async fn run(ours: UnixStream, streams: &mut Streams, link: &Link) -> Result<(), AudioEnd> {
    let vm = |e: zbus::Error| AudioEnd::Vm(e.into());
    let conn = p2p_link::accept(ours, MAX_QUEUED)
        .await
        .map_err(AudioEnd::Vm)?;
    let mut messages = MessageStream::from(&conn);
    let mut warned = false;
    while let Some(msg) = p2p_link::next_call(&mut messages).await.map_err(vm)? {
        let header = msg.header();
        let answer = handle(&msg, &header, streams, link)?;
        if let Err(fault) = &answer {
            // Once per connection: a broken producer would flood the log.
            if !warned {
                tracing::warn!(%fault, "refused an audio call from QEMU; further ones are logged at debug level");
                warned = true;
            } else {
                tracing::debug!(%fault, "refused an audio call");
            }
        }
        p2p_link::reply(&conn, &header, &answer).await.map_err(vm)?;
    }
    Ok(())
}

/// `Init`'s arguments: id, bits, signed, float, frequency, channels,
/// bytes per frame, bytes per second, big endian.
type InitArgs = (u64, u8, bool, bool, u32, u8, u32, u32, bool);

fn handle(
    msg: &Message,
    header: &Header<'_>,
    streams: &mut Streams,
    link: &Link,
) -> Result<Result<Answer, AudioFault>, AudioEnd> {
    if header.path().map(|p| p.as_str()) != Some(PATH) {
        return Ok(Ok(Answer::Unknown(
            "org.freedesktop.DBus.Error.UnknownObject",
        )));
    }
    let interface = header.interface().map(|i| i.as_str()).unwrap_or("");
    let member = header.member().map(|m| m.as_str()).unwrap_or("");
    let body = msg.body();
    let arguments = |e: zbus::Error| AudioFault::Arguments(e.to_string());
    let relayed = match (interface, member) {
        (INTERFACE, "Init") => {
            let parsed: Result<InitArgs, _> = body.deserialize();
            match parsed {
                Ok((id, bits, signed, float, frequency, channels, per_frame, per_second, be)) => {
                    let announced = Announced {
                        bits,
                        signed,
                        float,
                        frequency,
                        channels,
                        bytes_per_frame: per_frame,
                        bytes_per_second: per_second,
                        big_endian: be,
                    };
                    let opened = streams.init(id, announced);
                    if let Ok(FromHost::AudioOutOpened { format, .. }) = &opened {
                        tracing::info!(stream = id, ?format, "QEMU opened an audio output stream");
                    }
                    opened.map(|msg| vec![msg])
                }
                Err(e) => Err(arguments(e)),
            }
        }
        (INTERFACE, "Fini") => match body.deserialize::<u64>() {
            Ok(id) => streams.fini(id).map(|m| vec![m]),
            Err(e) => Err(arguments(e)),
        },
        (INTERFACE, "SetEnabled") => match body.deserialize::<(u64, bool)>() {
            Ok((id, on)) => streams.enabled(id, on).map(|m| vec![m]),
            Err(e) => Err(arguments(e)),
        },
        (INTERFACE, "SetVolume") => match body.deserialize::<(u64, bool, &[u8])>() {
            Ok((id, mute, volume)) => streams.volume(id, mute, volume).map(|m| vec![m]),
            Err(e) => Err(arguments(e)),
        },
        (INTERFACE, "Write") => match body.deserialize::<(u64, &[u8])>() {
            // Relayed chunk by chunk from the message, not collected.
            Ok((id, pcm)) => match streams.write(id, pcm) {
                Ok(chunks) => {
                    for chunk in chunks {
                        send(link, &chunk)?;
                    }
                    Ok(Vec::new())
                }
                Err(fault) => Err(fault),
            },
            Err(e) => Err(arguments(e)),
        },
        ("org.freedesktop.DBus.Properties", "GetAll") => return Ok(Ok(Answer::NoProperties)),
        ("org.freedesktop.DBus.Peer", "Ping") => Ok(Vec::new()),
        _ => {
            return Ok(Ok(Answer::Unknown(
                "org.freedesktop.DBus.Error.UnknownMethod",
            )))
        }
    };
    match relayed {
        Ok(messages) => {
            for msg in &messages {
                send(link, msg)?;
            }
            Ok(Ok(Answer::Empty))
        }
        Err(refusal) => Ok(Err(refusal)),
    }
}

/// Relays one message; the supervisor's end ends the listener.
fn send(link: &Link, msg: &FromHost) -> Result<(), AudioEnd> {
    match peer_gone(relay(link, msg)) {
        Ok(false) => Ok(()),
        Ok(true) => Err(AudioEnd::Supervisor),
        Err(e) => Err(AudioEnd::Host(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What AC97 announced on the test machine (QEMU 7.2).
    fn ac97() -> Announced {
        Announced {
            bits: 16,
            signed: true,
            float: false,
            frequency: 44_100,
            channels: 2,
            bytes_per_frame: 4,
            bytes_per_second: 176_400,
            big_endian: false,
        }
    }

    #[test]
    fn the_formats_qemu_announces_are_taken() {
        let mut streams = Streams::default();
        let opened = streams.init(7, ac97()).expect("AC97's format");
        let FromHost::AudioOutOpened { stream: 7, format } = opened else {
            panic!("{opened:?}");
        };
        assert_eq!(
            (format.frequency, format.channels, format.bits),
            (44_100, 2, 16)
        );
        let float = Announced {
            bits: 32,
            float: true,
            frequency: 48_000,
            channels: 6,
            bytes_per_frame: 24,
            bytes_per_second: 24 * 48_000,
            ..ac97()
        };
        assert!(float.format().is_ok());
        let mono8 = Announced {
            bits: 8,
            signed: false,
            channels: 1,
            bytes_per_frame: 1,
            bytes_per_second: 44_100,
            ..ac97()
        };
        assert!(mono8.format().is_ok());
    }

    #[test]
    fn formats_that_do_not_add_up_are_refused() {
        let cases = [
            Announced { bits: 24, ..ac97() },
            Announced {
                float: true,
                ..ac97()
            },
            Announced {
                channels: 0,
                bytes_per_frame: 0,
                bytes_per_second: 0,
                ..ac97()
            },
            Announced {
                channels: 17,
                bytes_per_frame: 34,
                bytes_per_second: 34 * 44_100,
                ..ac97()
            },
            Announced {
                frequency: 0,
                bytes_per_second: 0,
                ..ac97()
            },
            Announced {
                frequency: 1_000_000,
                bytes_per_second: 4_000_000,
                ..ac97()
            },
            Announced {
                bytes_per_frame: 8,
                ..ac97()
            },
            Announced {
                bytes_per_second: 176_401,
                ..ac97()
            },
        ];
        let mut streams = Streams::default();
        for (i, case) in cases.into_iter().enumerate() {
            assert!(
                matches!(streams.init(1, case), Err(AudioFault::Format(_))),
                "case {i} taken: {case:?}"
            );
        }
        assert!(matches!(
            streams.enabled(1, true),
            Err(AudioFault::UnknownStream(1))
        ));
    }

    #[test]
    fn calls_must_name_an_open_stream() {
        let mut streams = Streams::default();
        assert_eq!(streams.fini(3), Err(AudioFault::UnknownStream(3)));
        assert_eq!(
            streams.volume(3, false, &[255, 255]),
            Err(AudioFault::UnknownStream(3))
        );
        assert!(streams.write(3, &[0; 4]).is_err());
        streams.init(3, ac97()).expect("init");
        assert_eq!(
            streams.enabled(3, true),
            Ok(FromHost::AudioOutEnabled {
                stream: 3,
                enabled: true
            })
        );
        assert_eq!(
            streams.volume(3, true, &[10, 20]),
            Ok(FromHost::AudioOutVolume {
                stream: 3,
                mute: true,
                volume: vec![10, 20]
            })
        );
        assert_eq!(
            streams.volume(3, false, &[0; 17]),
            Err(AudioFault::Volume(17))
        );
        assert_eq!(streams.fini(3), Ok(FromHost::AudioOutClosed { stream: 3 }));
        assert_eq!(streams.fini(3), Err(AudioFault::UnknownStream(3)));
    }

    #[test]
    fn writes_are_relayed_in_bounded_chunks_of_whole_frames() {
        let mut streams = Streams::default();
        streams.init(1, ac97()).expect("init");
        let pcm: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let chunks: Vec<FromHost> = streams.write(1, &pcm).expect("write").collect();
        let mut joined = Vec::new();
        for chunk in &chunks {
            let FromHost::AudioOutData { stream: 1, pcm } = chunk else {
                panic!("{chunk:?}");
            };
            assert!(
                pcm.len() <= MAX_AUDIO_CHUNK && pcm.len() % 4 == 0,
                "{}",
                pcm.len()
            );
            joined.extend_from_slice(pcm);
        }
        assert_eq!(joined, pcm);
        assert_eq!(chunks.len(), 100_000usize.div_ceil(MAX_AUDIO_CHUNK));
        assert!(matches!(
            streams.write(1, &pcm[..6]),
            Err(AudioFault::Write { len: 6, .. })
        ));
        assert!(matches!(
            streams.write(1, &vec![0; MAX_WRITE + 4]),
            Err(AudioFault::Write { .. })
        ));
        assert_eq!(streams.write(1, &[]).expect("empty").count(), 0);
    }

    #[test]
    fn streams_are_bounded_and_all_closed_at_the_end() {
        let mut streams = Streams::default();
        for id in 0..MAX_STREAMS as u64 {
            streams.init(id, ac97()).expect("init");
        }
        assert_eq!(streams.init(99, ac97()), Err(AudioFault::TooMany));
        // A stream reopened with a new format is not one more.
        assert!(streams.init(0, ac97()).is_ok());
        let closed = streams.close_all();
        assert_eq!(closed.len(), MAX_STREAMS);
        assert_eq!(closed[0], FromHost::AudioOutClosed { stream: 0 });
        assert!(streams.close_all().is_empty());
    }
}
