//! One client's display channel: its surface, pending damage and ACK window.

use std::time::{Duration, Instant};

use spicebox_ipc::{ChannelInfo, DisplayInitState, OutMessage, ResumeState, SurfaceState};
use spicebox_protocol::caps::Caps;
use spicebox_protocol::common::{self, AckWindow};
use spicebox_protocol::consts::display_cap;
use spicebox_protocol::consts::msg::{common_srv, display_cli, display_srv};
use spicebox_protocol::display::{
    self, BitmapPalette, DisplayClientMsg, ImageData, ImageDescriptor, MonitorConfigHead,
    IMAGE_FLAG_CACHE_ME, SURFACE_FLAG_PRIMARY, SURFACE_FMT_32_ARGB, SURFACE_FMT_32_XRGB,
};
use spicebox_shm::{Consumer, Mode, PixelFormat, Rect, ShmError};

use crate::bitmap;
use crate::damage::Damage;
use crate::encode::{ClientCodecs, Compression, Encoded, Encoder, WanOptions};
use crate::flow::common_message;
use crate::full_rect;
use crate::palette_cache::{PaletteCache, PaletteUse};
use crate::pixmap_cache::{ContentKey, PixmapCache};

/// Ids per INVAL_LIST message: its count is a u16, and a modest message
/// keeps the ACK window's unit of work small.
const INVAL_LIST_MAX: usize = 4096;

/// How long a new channel's first picture waits for its session's network
/// test when a WAN codec is `auto`: the first picture is the largest, the
/// one a slow link most needs compressed hard. On a LAN the test is over
/// before the display channel opens.
const LINK_WAIT: Duration = Duration::from_secs(2);

/// The reference server's ACK window for display channels.
const ACK_WINDOW: u32 = 20;

/// The primary surface is always surface 0: spice-gtk only places monitors
/// that sit on surface 0.
const PRIMARY: u32 = 0;

pub struct DisplayConn {
    pub damage: Damage,
    ack: AckWindow,
    ack_generation: u32,
    /// DISPLAY_INIT, once it arrived; nothing but SET_ACK is sent before it.
    init: Option<DisplayInitState>,
    /// Taken over from a dead worker: the client's caches are invalidated
    /// and everything is redrawn on open.
    resumed: bool,
    /// The surface the client has, if any.
    surface: Option<Mode>,
    marked: bool,
    client_caps: Caps,
    /// Built at the first draw, once DISPLAY_INIT told the GLZ window.
    encoder: Option<Encoder>,
    /// Mirror of the client's pixmap cache, sized by DISPLAY_INIT (nothing
    /// is drawn before it). A resumed channel starts empty: the client was
    /// told to drop everything on open.
    cache: PixmapCache,
    /// Mirror of the client's palette cache; starts empty like `cache`.
    palettes: PaletteCache,
    next_image_id: u64,
    session_id: u32,
    wan: WanOptions,
    low_bandwidth: bool,
    /// Where GLZ ids continue after a worker restart (`None`: from 0).
    glz_resume_at: Option<u64>,
    /// The client's PREFERRED_COMPRESSION, which wins over the server's
    /// mode until the server's mode changes (as with the reference server).
    preferred: Option<u8>,
    /// Until then nothing is drawn unless the session's link class is
    /// known (`None`: known, or nothing depends on it).
    link_wait_until: Option<Instant>,
}

fn out(msg_type: u16, body: Vec<u8>) -> OutMessage {
    OutMessage { msg_type, body }
}

fn wire_rect(r: &Rect) -> display::Rect {
    display::Rect {
        top: r.y as i32,
        left: r.x as i32,
        bottom: (r.y + r.height) as i32,
        right: (r.x + r.width) as i32,
    }
}

impl DisplayConn {
    pub fn new(info: &ChannelInfo, resume: Option<&ResumeState>, wan: WanOptions) -> Self {
        let mut conn = Self {
            damage: Damage::default(),
            ack: AckWindow::new(1, ACK_WINDOW),
            ack_generation: 1,
            init: None,
            resumed: false,
            surface: None,
            marked: false,
            client_caps: Caps::from_words(info.channel_caps.clone()),
            encoder: None,
            cache: PixmapCache::new(0),
            palettes: PaletteCache::new(),
            next_image_id: 1,
            session_id: info.session_id,
            wan,
            low_bandwidth: false,
            link_wait_until: None,
            preferred: None,
            glz_resume_at: None,
        };
        let auto = |w: crate::encode::WanSetting| w == crate::encode::WanSetting::Auto;
        if resume.is_none() && (auto(wan.jpeg) || auto(wan.zlib_glz)) {
            conn.link_wait_until = Some(Instant::now() + LINK_WAIT);
        }
        if let Some(ResumeState::Display {
            init,
            surface,
            marked,
            ack_generation,
            preferred_compression,
            glz_next_id,
        }) = resume
        {
            conn.preferred = *preferred_compression;
            // spice-gtk's window only releases images once their ids are
            // contiguous, so the new dictionary's ids continue exactly
            // where the client's stopped (the state travels with the
            // messages it describes, so it is never behind the client).
            conn.glz_resume_at = *glz_next_id;
            // A new generation makes the client restart its ACK count, so
            // the window starts empty on both sides.
            conn.ack_generation = ack_generation.wrapping_add(1).max(1);
            conn.ack = AckWindow::new(conn.ack_generation, ACK_WINDOW);
            conn.init = *init;
            if let Some(init) = init {
                conn.cache = PixmapCache::new(init.pixmap_cache_size);
            }
            conn.surface = surface.map(|s| Mode {
                width: s.width,
                height: s.height,
                stride: s.width.saturating_mul(4),
                format: if s.alpha {
                    PixelFormat::Argb32
                } else {
                    PixelFormat::Xrgb32
                },
            });
            conn.marked = *marked;
            conn.resumed = true;
        }
        conn
    }

    pub fn session_id(&self) -> u32 {
        self.session_id
    }

    pub fn set_low_bandwidth(&mut self, low: bool) {
        self.low_bandwidth = low;
        self.link_wait_until = None;
        if let Some(e) = &mut self.encoder {
            e.set_low_bandwidth(low);
        }
    }

    /// Forgets the client's preference: the server's mode changed.
    pub fn clear_preference(&mut self) {
        self.preferred = None;
    }

    /// When this channel stops waiting for its link class, if it waits.
    pub fn link_wait_until(&self) -> Option<Instant> {
        self.link_wait_until
    }

    /// What the client holds, for a worker that may take over.
    pub fn state(&self) -> ResumeState {
        ResumeState::Display {
            init: self.init,
            surface: self.surface.map(|m| SurfaceState {
                width: m.width,
                height: m.height,
                alpha: m.format.has_alpha(),
            }),
            marked: self.marked,
            ack_generation: self.ack_generation,
            preferred_compression: self.preferred,
            glz_next_id: match &self.encoder {
                Some(e) => e.glz_next_id(),
                // Nothing encoded yet: still where a dead worker left it.
                None => self.glz_resume_at,
            },
        }
    }

    /// Messages sent as soon as the channel is up. A resumed channel drops
    /// whatever the client cached from the dead worker and is redrawn whole.
    pub fn on_open(&mut self) -> Vec<OutMessage> {
        let mut msgs = vec![out(
            common_srv::SET_ACK,
            common::set_ack(self.ack_generation, ACK_WINDOW),
        )];
        if self.resumed {
            msgs.push(out(
                display_srv::INVAL_ALL_PIXMAPS,
                display::inval_all_pixmaps(&[]),
            ));
            msgs.push(out(
                display_srv::INVAL_ALL_PALETTES,
                display::inval_all_palettes(),
            ));
            if let Some(mode) = self.surface {
                self.damage.full((mode.width, mode.height));
            }
        }
        msgs
    }

    pub fn on_client_message(&mut self, msg_type: u16, body: &[u8]) -> Result<(), String> {
        if common_message(&mut self.ack, msg_type, body)? {
            return Ok(());
        }
        match msg_type {
            display_cli::INIT
            | display_cli::STREAM_REPORT
            | display_cli::PREFERRED_COMPRESSION
            | display_cli::GL_DRAW_DONE
            | display_cli::PREFERRED_VIDEO_CODEC_TYPE => {
                let msg = display::parse_display_client(msg_type, body)
                    .map_err(|e| format!("bad display message {msg_type}: {e}"))?;
                match msg {
                    DisplayClientMsg::Init(i) => {
                        // A repeated INIT must not forget what the client
                        // already holds: the mirror is sized once.
                        if self.init.is_none() {
                            self.cache = PixmapCache::new(i.pixmap_cache_size);
                        }
                        self.init = Some(DisplayInitState {
                            pixmap_cache_id: i.pixmap_cache_id,
                            pixmap_cache_size: i.pixmap_cache_size,
                            glz_dictionary_id: i.glz_dictionary_id,
                            glz_window_size: i.glz_window_size,
                        });
                    }
                    DisplayClientMsg::PreferredCompression(value) => {
                        match Compression::from_wire(value) {
                            Some(mode) => {
                                tracing::info!(
                                    session = self.session_id,
                                    ?mode,
                                    "client prefers an image compression"
                                );
                                self.preferred = Some(value);
                            }
                            None => tracing::warn!(
                                session = self.session_id,
                                value,
                                "client asked for an unknown image compression; ignored"
                            ),
                        }
                    }
                    _ => {}
                }
            }
            other => return Err(format!("unknown display message type {other}")),
        }
        Ok(())
    }

    /// Whatever is due and allowed by the ACK window.
    pub fn flush(
        &mut self,
        shm: &Consumer,
        mode: Mode,
        compression: Compression,
    ) -> Result<Vec<OutMessage>, ShmError> {
        let compression = self
            .preferred
            .and_then(Compression::from_wire)
            .unwrap_or(compression);
        let mut msgs = Vec::new();
        if self.init.is_none() || mode.width == 0 || mode.height == 0 {
            return Ok(msgs);
        }
        if let Some(until) = self.link_wait_until {
            if Instant::now() < until {
                return Ok(msgs);
            }
            tracing::debug!(
                session = self.session_id,
                "no network test result in time; drawing as on a fast link"
            );
            self.link_wait_until = None;
        }
        if self.surface != Some(mode) {
            // A new surface is drawn whole, window or not: the client has
            // nothing to show until it is.
            if self.surface.is_some() {
                msgs.push(out(
                    display_srv::SURFACE_DESTROY,
                    display::surface_destroy(PRIMARY),
                ));
            }
            msgs.push(out(
                display_srv::SURFACE_CREATE,
                display::surface_create(
                    PRIMARY,
                    mode.width,
                    mode.height,
                    if mode.format.has_alpha() {
                        SURFACE_FMT_32_ARGB
                    } else {
                        SURFACE_FMT_32_XRGB
                    },
                    SURFACE_FLAG_PRIMARY,
                ),
            ));
            msgs.push(out(
                display_srv::MONITORS_CONFIG,
                display::monitors_config(
                    &[MonitorConfigHead {
                        id: 0,
                        surface_id: PRIMARY,
                        width: mode.width,
                        height: mode.height,
                        x: 0,
                        y: 0,
                        flags: 0,
                    }],
                    1,
                ),
            ));
            msgs.extend(self.draw(shm, full_rect(&mode), mode.format, compression)?);
            if !self.marked {
                msgs.push(out(display_srv::MARK, display::mark()));
                self.marked = true;
            }
            self.surface = Some(mode);
            self.damage.clear();
            for _ in &msgs {
                self.ack.on_sent();
            }
            return Ok(msgs);
        }
        while self.ack.can_send() {
            let Some(rect) = self.damage.pop() else {
                break;
            };
            for m in self.draw(shm, rect, mode.format, compression)? {
                msgs.push(m);
                self.ack.on_sent();
            }
        }
        Ok(msgs)
    }

    /// One damaged rectangle as a DRAW_COPY: a reference to the client's
    /// cache when it holds these pixels, else an encoded image, cached when
    /// it fits; preceded by INVAL_LIST for whatever had to make room.
    fn draw(
        &mut self,
        shm: &Consumer,
        rect: Rect,
        format: PixelFormat,
        compression: Compression,
    ) -> Result<Vec<OutMessage>, ShmError> {
        let alpha = format.has_alpha();
        let mut pixels = Vec::with_capacity(rect.width as usize * rect.height as usize * 4);
        shm.copy_rect(rect, &mut pixels)?;
        let mut msgs = Vec::new();
        let lossy_allowed = self.wan.jpeg.applies(self.low_bandwidth);
        let cache = &mut self.cache;
        let key = cache
            .admits(rect.width, rect.height)
            .then(|| ContentKey::of(&pixels, rect.width, rect.height, alpha));
        if let Some(key) = &key {
            if let Some(hit) = cache.lookup(key) {
                if !hit.lossy || lossy_allowed {
                    let desc = ImageDescriptor {
                        id: hit.id,
                        flags: 0,
                        width: rect.width,
                        height: rect.height,
                    };
                    let body =
                        display::draw_copy(PRIMARY, wire_rect(&rect), &desc, &ImageData::FromCache);
                    msgs.push(out(display_srv::DRAW_COPY, body));
                    return Ok(msgs);
                }
                // The client holds a lossy copy and lossy images are no
                // longer wanted: drop it and send these pixels afresh.
                cache.remove(hit.id);
                msgs.push(out(display_srv::INVAL_LIST, display::inval_list(&[hit.id])));
            }
        }

        let image = self.encoder(compression).encode(pixels, rect.width, alpha);
        // Uncompressed images go in the smallest exact bitmap format, with
        // the palette cached when they have one.
        let packed;
        let image_data = match &image {
            Encoded::Bitmap { pixels, .. } => {
                packed = bitmap::best(pixels, rect.width, alpha);
                let palette = match &packed.palette {
                    None => BitmapPalette::None,
                    Some(entries) => match self.palettes.lookup_or_store(entries) {
                        Some(PaletteUse::Cached(id)) => BitmapPalette::Cached(id),
                        Some(PaletteUse::Store { id, evicted }) => {
                            if let Some(old) = evicted {
                                msgs.push(out(
                                    display_srv::INVAL_PALETTE,
                                    display::inval_palette(old),
                                ));
                            }
                            BitmapPalette::Inline {
                                id,
                                cache_me: true,
                                entries,
                            }
                        }
                        None => BitmapPalette::Inline {
                            id: 0,
                            cache_me: false,
                            entries,
                        },
                    },
                };
                ImageData::Bitmap {
                    format: packed.format,
                    stride: packed.stride,
                    palette,
                    data: &packed.data,
                }
            }
            other => other.as_image_data(),
        };
        let lossy = image.is_lossy();
        let mut desc = ImageDescriptor {
            id: self.next_image_id,
            flags: 0,
            width: rect.width,
            height: rect.height,
        };
        self.next_image_id += 1;
        let cache = &mut self.cache;
        if let Some(admitted) = key.and_then(|k| cache.admit(k, lossy)) {
            if !admitted.evicted.is_empty() {
                tracing::debug!(
                    evicted = admitted.evicted.len(),
                    held_pixels = cache.used(),
                    held_images = cache.len(),
                    "pixmap cache made room"
                );
            }
            for ids in admitted.evicted.chunks(INVAL_LIST_MAX) {
                msgs.push(out(display_srv::INVAL_LIST, display::inval_list(ids)));
            }
            desc.id = admitted.id;
            desc.flags |= IMAGE_FLAG_CACHE_ME;
        }
        let body = display::draw_copy(PRIMARY, wire_rect(&rect), &desc, &image_data);
        msgs.push(out(display_srv::DRAW_COPY, body));
        Ok(msgs)
    }

    /// The channel's encoder, built at the first draw once DISPLAY_INIT
    /// told the GLZ window, set to the current mode.
    fn encoder(&mut self, compression: Compression) -> &mut Encoder {
        let encoder = self.encoder.get_or_insert_with(|| {
            // A channel taken over from a dead worker continues GLZ past the
            // ids the client's window may still hold; without a reported id
            // to continue from, it sends no GLZ at all.
            let glz_window = match (&self.init, self.resumed, self.glz_resume_at) {
                (Some(init), false, _) | (Some(init), true, Some(_)) => {
                    u32::try_from(init.glz_window_size).unwrap_or(0)
                }
                _ => 0,
            };
            let mut e = Encoder::new(
                compression,
                ClientCodecs {
                    lz4: self.client_caps.has(display_cap::LZ4_COMPRESSION),
                    glz_window,
                },
                self.wan,
            );
            e.set_low_bandwidth(self.low_bandwidth);
            if let Some(first) = self.glz_resume_at {
                e.resume_glz_at(first);
            }
            e
        });
        encoder.set_mode(compression);
        encoder
    }
}
