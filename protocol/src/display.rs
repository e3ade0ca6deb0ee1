//! Display channel (type 2): surfaces, monitors, draw commands, images and streams.
//!
//! Layouts follow spice-common's `spice.proto`. Pointer fields are u32 offsets
//! from the start of the message body; `Rect` is top, left, bottom, right.

use crate::common::{parse_wait_for_channels, wait_for_channels, WaitForChannel};
use crate::consts::msg::display_cli as cli;
use crate::wire::{u32_len, Reader, WireError, Writer};

/// Surface format: 1-bit alpha.
pub const SURFACE_FMT_1_A: u32 = 1;
/// Surface format: 8-bit alpha.
pub const SURFACE_FMT_8_A: u32 = 8;
/// Surface format: 16-bit 555.
pub const SURFACE_FMT_16_555: u32 = 16;
/// Surface format: 32-bit xRGB (the only one spicy-screenshot saves).
pub const SURFACE_FMT_32_XRGB: u32 = 32;
/// Surface format: 16-bit 565.
pub const SURFACE_FMT_16_565: u32 = 80;
/// Surface format: 32-bit ARGB.
pub const SURFACE_FMT_32_ARGB: u32 = 96;
/// Surface flag: this is the primary surface (use surface id 0).
pub const SURFACE_FLAG_PRIMARY: u32 = 1;
/// Surface flag: only streams will draw here (only for clients with MULTI_CODEC).
pub const SURFACE_FLAG_STREAMING_MODE: u32 = 2;

/// Image type: raw bitmap.
pub const IMAGE_TYPE_BITMAP: u8 = 0;
/// Image type: QUIC.
pub const IMAGE_TYPE_QUIC: u8 = 1;
/// Image type: LZ with palette.
pub const IMAGE_TYPE_LZ_PLT: u8 = 100;
/// Image type: LZ RGB.
pub const IMAGE_TYPE_LZ_RGB: u8 = 101;
/// Image type: GLZ RGB.
pub const IMAGE_TYPE_GLZ_RGB: u8 = 102;
/// Image type: from the pixmap cache.
pub const IMAGE_TYPE_FROM_CACHE: u8 = 103;
/// Image type: another surface.
pub const IMAGE_TYPE_SURFACE: u8 = 104;
/// Image type: JPEG.
pub const IMAGE_TYPE_JPEG: u8 = 105;
/// Image type: from the pixmap cache, lossless copy only.
pub const IMAGE_TYPE_FROM_CACHE_LOSSLESS: u8 = 106;
/// Image type: zlib-wrapped GLZ.
pub const IMAGE_TYPE_ZLIB_GLZ_RGB: u8 = 107;
/// Image type: JPEG plus LZ alpha.
pub const IMAGE_TYPE_JPEG_ALPHA: u8 = 108;
/// Image type: LZ4 (needs DISPLAY_CAP_LZ4_COMPRESSION).
pub const IMAGE_TYPE_LZ4: u8 = 109;

/// JPEG_ALPHA flag: the rows (and the alpha LZ stream's) are top-down.
pub const JPEG_ALPHA_FLAG_TOP_DOWN: u8 = 1;

/// Image flag: the client caches the decoded image under its id.
pub const IMAGE_FLAG_CACHE_ME: u8 = 1;
/// Image flag: force the top byte of every decoded pixel to 0xff.
pub const IMAGE_FLAG_HIGH_BITS_SET: u8 = 2;
/// Image flag: replace a lossy cached copy with this lossless one.
pub const IMAGE_FLAG_CACHE_REPLACE_ME: u8 = 4;

/// Bitmap format: 1 bpp little-endian bit order.
pub const BITMAP_FMT_1BIT_LE: u8 = 1;
/// Bitmap format: 1 bpp big-endian bit order.
pub const BITMAP_FMT_1BIT_BE: u8 = 2;
/// Bitmap format: 4 bpp little-endian nibbles.
pub const BITMAP_FMT_4BIT_LE: u8 = 3;
/// Bitmap format: 4 bpp big-endian nibbles.
pub const BITMAP_FMT_4BIT_BE: u8 = 4;
/// Bitmap format: 8 bpp indexed.
pub const BITMAP_FMT_8BIT: u8 = 5;
/// Bitmap format: 16 bpp 555.
pub const BITMAP_FMT_16BIT: u8 = 6;
/// Bitmap format: 24 bpp B,G,R.
pub const BITMAP_FMT_24BIT: u8 = 7;
/// Bitmap format: 32 bpp B,G,R,X.
pub const BITMAP_FMT_32BIT: u8 = 8;
/// Bitmap format: 32 bpp B,G,R,A.
pub const BITMAP_FMT_RGBA: u8 = 9;
/// Bitmap format: 8-bit alpha.
pub const BITMAP_FMT_8BIT_A: u8 = 10;

/// Bitmap flag: cache the palette.
pub const BITMAP_FLAG_PAL_CACHE_ME: u8 = 1;
/// Bitmap flag: the palette field is a u64 cache id instead of an offset.
pub const BITMAP_FLAG_PAL_FROM_CACHE: u8 = 2;
/// Bitmap flag: first row is the top row (otherwise bottom-up).
pub const BITMAP_FLAG_TOP_DOWN: u8 = 4;

/// Raster op: plain copy.
pub const ROPD_OP_PUT: u16 = 8;
/// Scale mode: interpolate.
pub const SCALE_MODE_INTERPOLATE: u8 = 0;
/// Scale mode: nearest neighbour.
pub const SCALE_MODE_NEAREST: u8 = 1;
/// Clip type: none.
pub const CLIP_TYPE_NONE: u8 = 0;
/// Clip type: inline list of rectangles.
pub const CLIP_TYPE_RECTS: u8 = 1;
/// Brush type: solid colour.
pub const BRUSH_TYPE_SOLID: u8 = 1;
/// Resource type for INVAL_LIST: pixmap.
pub const RES_TYPE_PIXMAP: u8 = 1;

/// Preferred compression: off.
pub const IMAGE_COMPRESSION_OFF: u8 = 1;
/// Preferred compression: auto GLZ.
pub const IMAGE_COMPRESSION_AUTO_GLZ: u8 = 2;
/// Preferred compression: auto LZ.
pub const IMAGE_COMPRESSION_AUTO_LZ: u8 = 3;
/// Preferred compression: QUIC.
pub const IMAGE_COMPRESSION_QUIC: u8 = 4;
/// Preferred compression: GLZ.
pub const IMAGE_COMPRESSION_GLZ: u8 = 5;
/// Preferred compression: LZ.
pub const IMAGE_COMPRESSION_LZ: u8 = 6;
/// Preferred compression: LZ4.
pub const IMAGE_COMPRESSION_LZ4: u8 = 7;

/// Video codec: MJPEG.
pub const VIDEO_CODEC_MJPEG: u8 = 1;
/// Video codec: VP8.
pub const VIDEO_CODEC_VP8: u8 = 2;
/// Video codec: H.264.
pub const VIDEO_CODEC_H264: u8 = 3;
/// Video codec: VP9.
pub const VIDEO_CODEC_VP9: u8 = 4;
/// Video codec: H.265.
pub const VIDEO_CODEC_H265: u8 = 5;
/// Stream flag: frames are top-down (set it for normal video).
pub const STREAM_FLAG_TOP_DOWN: u8 = 1;
/// GL scanout flag: row 0 is the top.
pub const GL_SCANOUT_FLAG_Y0TOP: u32 = 1;

/// Body size of DISPLAY_INIT.
pub const DISPLAY_INIT_SIZE: usize = 14;
/// Offset of the source image in a DRAW_COPY with clip NONE.
pub const DRAW_COPY_IMAGE_OFFSET: u32 = 57;
/// Size of an image descriptor.
pub const IMAGE_DESCRIPTOR_SIZE: usize = 18;
/// Most heads spice-gtk accepts in MONITORS_CONFIG.
pub const MAX_MONITORS: u16 = 256;

/// Rectangle as SPICE sends it: top, left, bottom (exclusive), right (exclusive).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rect {
    /// First row.
    pub top: i32,
    /// First column.
    pub left: i32,
    /// One past the last row.
    pub bottom: i32,
    /// One past the last column.
    pub right: i32,
}

fn extent(start: i32, len: u32) -> i32 {
    let end = i64::from(start) + i64::from(len);
    i32::try_from(end).unwrap_or(i32::MAX)
}

impl Rect {
    /// Rectangle at (`x`, `y`) of `width` × `height` (saturating at i32::MAX).
    pub fn from_xywh(x: i32, y: i32, width: u32, height: u32) -> Rect {
        Rect {
            top: y,
            left: x,
            bottom: extent(y, height),
            right: extent(x, width),
        }
    }

    /// Columns covered (0 if inverted).
    pub fn width(&self) -> u32 {
        u32::try_from(i64::from(self.right) - i64::from(self.left)).unwrap_or(0)
    }

    /// Rows covered (0 if inverted).
    pub fn height(&self) -> u32 {
        u32::try_from(i64::from(self.bottom) - i64::from(self.top)).unwrap_or(0)
    }

    /// True if the rectangle covers no pixel.
    pub fn is_empty(&self) -> bool {
        self.width() == 0 || self.height() == 0
    }

    /// Appends the 16 wire bytes.
    pub fn write(&self, w: &mut Writer) {
        w.i32(self.top)
            .i32(self.left)
            .i32(self.bottom)
            .i32(self.right);
    }

    /// Reads 16 wire bytes.
    pub fn read(r: &mut Reader<'_>) -> Result<Rect, WireError> {
        Ok(Rect {
            top: r.i32()?,
            left: r.i32()?,
            bottom: r.i32()?,
            right: r.i32()?,
        })
    }
}

/// Point as SPICE sends it (2 × i32).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Point {
    /// Column.
    pub x: i32,
    /// Row.
    pub y: i32,
}

impl Point {
    fn write(&self, w: &mut Writer) {
        w.i32(self.x).i32(self.y);
    }

    fn read(r: &mut Reader<'_>) -> Result<Point, WireError> {
        Ok(Point {
            x: r.i32()?,
            y: r.i32()?,
        })
    }
}

/// DISPLAY_INIT from the client: which caches it uses and how big they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DisplayInit {
    /// Session-wide pixmap cache id.
    pub pixmap_cache_id: u8,
    /// Pixmap cache budget, in pixels.
    pub pixmap_cache_size: i64,
    /// Session-wide GLZ dictionary id.
    pub glz_dictionary_id: u8,
    /// GLZ window, in pixels (0: never send GLZ).
    pub glz_window_size: i32,
}

impl DisplayInit {
    /// Parses the 14-byte body.
    pub fn parse(body: &[u8]) -> Result<DisplayInit, WireError> {
        let mut r = Reader::named(body, "display init");
        let init = DisplayInit {
            pixmap_cache_id: r.u8()?,
            pixmap_cache_size: r.i64()?,
            glz_dictionary_id: r.u8()?,
            glz_window_size: r.i32()?,
        };
        r.finish()?;
        Ok(init)
    }

    /// The body (client side).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(DISPLAY_INIT_SIZE);
        w.u8(self.pixmap_cache_id)
            .i64(self.pixmap_cache_size)
            .u8(self.glz_dictionary_id)
            .i32(self.glz_window_size);
        w.into_vec()
    }
}

/// SURFACE_CREATE body.
pub fn surface_create(
    surface_id: u32,
    width: u32,
    height: u32,
    format: u32,
    flags: u32,
) -> Vec<u8> {
    let mut w = Writer::with_capacity(20);
    w.u32(surface_id)
        .u32(width)
        .u32(height)
        .u32(format)
        .u32(flags);
    w.into_vec()
}

/// SURFACE_CREATE as the client sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SurfaceCreate {
    /// Surface id (0 for the primary).
    pub surface_id: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `SURFACE_FMT_*`.
    pub format: u32,
    /// `SURFACE_FLAG_*`.
    pub flags: u32,
}

/// Parses SURFACE_CREATE (client side).
pub fn parse_surface_create(body: &[u8]) -> Result<SurfaceCreate, WireError> {
    let mut r = Reader::named(body, "surface create");
    let s = SurfaceCreate {
        surface_id: r.u32()?,
        width: r.u32()?,
        height: r.u32()?,
        format: r.u32()?,
        flags: r.u32()?,
    };
    r.finish()?;
    Ok(s)
}

/// SURFACE_DESTROY body.
pub fn surface_destroy(surface_id: u32) -> Vec<u8> {
    surface_id.to_le_bytes().to_vec()
}

/// Parses SURFACE_DESTROY (client side).
pub fn parse_surface_destroy(body: &[u8]) -> Result<u32, WireError> {
    let mut r = Reader::named(body, "surface destroy");
    let id = r.u32()?;
    r.finish()?;
    Ok(id)
}

/// One monitor in MONITORS_CONFIG.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MonitorConfigHead {
    /// Monitor number.
    pub id: u32,
    /// Surface it shows (0: the primary).
    pub surface_id: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Left edge within the surface.
    pub x: u32,
    /// Top edge within the surface.
    pub y: u32,
    /// Reserved flags.
    pub flags: u32,
}

/// MONITORS_CONFIG body; more than 65535 heads are dropped.
pub fn monitors_config(heads: &[MonitorConfigHead], max_allowed: u16) -> Vec<u8> {
    let count = u16::try_from(heads.len()).unwrap_or(u16::MAX);
    let mut w = Writer::with_capacity(4 + 28 * usize::from(count));
    w.u16(count).u16(max_allowed);
    for h in heads.iter().take(usize::from(count)) {
        w.u32(h.id)
            .u32(h.surface_id)
            .u32(h.width)
            .u32(h.height)
            .u32(h.x)
            .u32(h.y)
            .u32(h.flags);
    }
    w.into_vec()
}

/// Parses MONITORS_CONFIG into (heads, max_allowed) (client side).
pub fn parse_monitors_config(body: &[u8]) -> Result<(Vec<MonitorConfigHead>, u16), WireError> {
    let mut r = Reader::named(body, "monitors config");
    let count = r.u16()?;
    let max_allowed = r.u16()?;
    let heads = (0..count)
        .map(|_| {
            Ok(MonitorConfigHead {
                id: r.u32()?,
                surface_id: r.u32()?,
                width: r.u32()?,
                height: r.u32()?,
                x: r.u32()?,
                y: r.u32()?,
                flags: r.u32()?,
            })
        })
        .collect::<Result<Vec<_>, WireError>>()?;
    r.finish()?;
    Ok((heads, max_allowed))
}

/// MARK body (empty); the GTK widget shows nothing before it.
pub fn mark() -> Vec<u8> {
    Vec::new()
}

/// RESET body (empty); clears MARK, so send MARK again afterwards.
pub fn reset() -> Vec<u8> {
    Vec::new()
}

/// INVAL_ALL_PALETTES body (empty).
pub fn inval_all_palettes() -> Vec<u8> {
    Vec::new()
}

/// INVAL_PALETTE body.
pub fn inval_palette(id: u64) -> Vec<u8> {
    id.to_le_bytes().to_vec()
}

/// INVAL_LIST body evicting pixmap cache ids; more than 65535 ids are dropped.
pub fn inval_list(pixmap_ids: &[u64]) -> Vec<u8> {
    let count = u16::try_from(pixmap_ids.len()).unwrap_or(u16::MAX);
    let mut w = Writer::with_capacity(2 + 9 * usize::from(count));
    w.u16(count);
    for &id in pixmap_ids.iter().take(usize::from(count)) {
        w.u8(RES_TYPE_PIXMAP).u64(id);
    }
    w.into_vec()
}

/// Parses INVAL_LIST into (resource type, id) pairs (client side).
pub fn parse_inval_list(body: &[u8]) -> Result<Vec<(u8, u64)>, WireError> {
    let mut r = Reader::named(body, "inval list");
    let count = r.u16()?;
    let items = (0..count)
        .map(|_| Ok((r.u8()?, r.u64()?)))
        .collect::<Result<Vec<_>, WireError>>()?;
    r.finish()?;
    Ok(items)
}

/// INVAL_ALL_PIXMAPS body: the channels the client must wait for first.
pub fn inval_all_pixmaps(waits: &[WaitForChannel]) -> Vec<u8> {
    wait_for_channels(waits)
}

/// Parses INVAL_ALL_PIXMAPS (client side).
pub fn parse_inval_all_pixmaps(body: &[u8]) -> Result<Vec<WaitForChannel>, WireError> {
    parse_wait_for_channels(body)
}

/// Appends DisplayBase with clip NONE.
fn write_base(w: &mut Writer, surface_id: u32, dest: Rect) {
    w.u32(surface_id);
    dest.write(w);
    w.u8(CLIP_TYPE_NONE);
}

/// Appends an empty QMask.
fn write_no_mask(w: &mut Writer) {
    w.u8(0);
    Point::default().write(w);
    w.u32(0);
}

/// COPY_BITS body: copy the area at `src` to `dest` on the same surface (scrolling).
pub fn copy_bits(surface_id: u32, dest: Rect, src: Point) -> Vec<u8> {
    let mut w = Writer::with_capacity(29);
    write_base(&mut w, surface_id, dest);
    src.write(&mut w);
    w.into_vec()
}

/// DRAW_FILL body with a solid 0x00RRGGBB colour, rop OP_PUT, no clip, no mask.
pub fn draw_fill_solid(surface_id: u32, dest: Rect, color: u32) -> Vec<u8> {
    let mut w = Writer::with_capacity(41);
    write_base(&mut w, surface_id, dest);
    w.u8(BRUSH_TYPE_SOLID).u32(color).u16(ROPD_OP_PUT);
    write_no_mask(&mut w);
    w.into_vec()
}

/// Image payloads the display worker produces. Pixel data is already laid out as the codec needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageData<'a> {
    /// 32-bit B,G,R,X rows, top-down, `stride` bytes per row.
    Bitmap32 {
        /// Bytes per row (at least width × 4).
        stride: u32,
        /// `stride` × height bytes.
        data: &'a [u8],
    },
    /// A bitmap of any format, rows top-down; indexed formats carry their
    /// palette inline or as a reference to the client's palette cache.
    Bitmap {
        /// `BITMAP_FMT_*`.
        format: u8,
        /// Bytes per row.
        stride: u32,
        /// Where an indexed format's colours come from.
        palette: BitmapPalette<'a>,
        /// `stride` × height bytes.
        data: &'a [u8],
    },
    /// LZ4 image (type 109): payload = already-built LZ4 stream (u8 top_down, u8 bitmap fmt, blocks...).
    Lz4 {
        /// The whole LZ4 image stream.
        data: &'a [u8],
    },
    /// QUIC stream (type 1); its length must be a multiple of 4.
    Quic {
        /// The QUIC words.
        data: &'a [u8],
    },
    /// LZ RGB stream (type 101).
    LzRgb {
        /// The LZ stream, header included.
        data: &'a [u8],
    },
    /// GLZ RGB stream (type 102).
    GlzRgb {
        /// The GLZ stream, header included.
        data: &'a [u8],
    },
    /// zlib-compressed GLZ stream (type 107).
    ZlibGlzRgb {
        /// Size of the GLZ stream once inflated.
        glz_data_size: u32,
        /// The zlib stream.
        data: &'a [u8],
    },
    /// JPEG (type 105).
    Jpeg {
        /// A complete JFIF stream.
        data: &'a [u8],
    },
    /// JPEG plus an LZ alpha plane (type 108, `SpiceJPEGAlphaData`).
    JpegAlpha {
        /// Rows (of the JPEG and of the alpha stream) run top-down.
        top_down: bool,
        /// How many leading bytes of `data` are the JPEG; the rest is an LZ
        /// stream of type XXXA. Clamped to `data`'s length when written.
        jpeg_size: u32,
        /// The JPEG then the alpha stream.
        data: &'a [u8],
    },
    /// The image the client cached under the descriptor id (type 103).
    FromCache,
    /// The lossless copy the client cached under the descriptor id (type 106).
    FromCacheLossless,
    /// The contents of another surface (type 104).
    Surface {
        /// Source surface.
        surface_id: u32,
    },
}

impl ImageData<'_> {
    /// The descriptor's image type for this payload.
    pub fn image_type(&self) -> u8 {
        match self {
            ImageData::Bitmap32 { .. } | ImageData::Bitmap { .. } => IMAGE_TYPE_BITMAP,
            ImageData::Lz4 { .. } => IMAGE_TYPE_LZ4,
            ImageData::Quic { .. } => IMAGE_TYPE_QUIC,
            ImageData::LzRgb { .. } => IMAGE_TYPE_LZ_RGB,
            ImageData::GlzRgb { .. } => IMAGE_TYPE_GLZ_RGB,
            ImageData::ZlibGlzRgb { .. } => IMAGE_TYPE_ZLIB_GLZ_RGB,
            ImageData::Jpeg { .. } => IMAGE_TYPE_JPEG,
            ImageData::JpegAlpha { .. } => IMAGE_TYPE_JPEG_ALPHA,
            ImageData::FromCache => IMAGE_TYPE_FROM_CACHE,
            ImageData::FromCacheLossless => IMAGE_TYPE_FROM_CACHE_LOSSLESS,
            ImageData::Surface { .. } => IMAGE_TYPE_SURFACE,
        }
    }
}

/// The parts of a SpiceImage descriptor the caller chooses (the type comes from the payload).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImageDescriptor {
    /// Cache id (meaningful with CACHE_ME / FROM_CACHE).
    pub id: u64,
    /// `IMAGE_FLAG_*`.
    pub flags: u8,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Appends a SpiceImage (descriptor then payload), all inline.
///
/// Bitmap data is cut or zero-padded to stride × height so the message always
/// matches what its header promises, whatever slice the caller passed.
pub fn write_image(w: &mut Writer, desc: &ImageDescriptor, image: &ImageData<'_>) {
    w.u64(desc.id)
        .u8(image.image_type())
        .u8(desc.flags)
        .u32(desc.width)
        .u32(desc.height);
    match *image {
        ImageData::Bitmap32 { stride, data } => {
            w.u8(BITMAP_FMT_32BIT)
                .u8(BITMAP_FLAG_TOP_DOWN)
                .u32(desc.width)
                .u32(desc.height)
                .u32(stride)
                .u32(0);
            let size =
                usize::try_from(u64::from(stride) * u64::from(desc.height)).unwrap_or(usize::MAX);
            let have = data.get(..size).unwrap_or(data);
            w.bytes(have).zeros(size - have.len());
        }
        ImageData::Bitmap {
            format,
            stride,
            palette,
            data,
        } => {
            let size =
                usize::try_from(u64::from(stride) * u64::from(desc.height)).unwrap_or(usize::MAX);
            let mut flags = BITMAP_FLAG_TOP_DOWN;
            match palette {
                BitmapPalette::Cached(_) => flags |= BITMAP_FLAG_PAL_FROM_CACHE,
                BitmapPalette::Inline { cache_me: true, .. } => flags |= BITMAP_FLAG_PAL_CACHE_ME,
                _ => {}
            }
            w.u8(format)
                .u8(flags)
                .u32(desc.width)
                .u32(desc.height)
                .u32(stride);
            match palette {
                BitmapPalette::None => {
                    w.u32(0);
                }
                BitmapPalette::Cached(id) => {
                    w.u64(id);
                }
                BitmapPalette::Inline { .. } => {
                    // The palette follows the pixels; its offset is from
                    // the start of the message body.
                    let at = (w.len() + 4).saturating_add(size);
                    w.u32(u32::try_from(at).unwrap_or(u32::MAX));
                }
            }
            let have = data.get(..size).unwrap_or(data);
            w.bytes(have).zeros(size - have.len());
            if let BitmapPalette::Inline { id, entries, .. } = palette {
                let n = u16::try_from(entries.len()).unwrap_or(u16::MAX);
                w.u64(id).u16(n);
                for &e in entries.iter().take(usize::from(n)) {
                    w.u32(e);
                }
            }
        }
        ImageData::Lz4 { data }
        | ImageData::Quic { data }
        | ImageData::LzRgb { data }
        | ImageData::GlzRgb { data }
        | ImageData::Jpeg { data } => {
            let (len, data) = u32_len(data);
            w.u32(len).bytes(data);
        }
        ImageData::ZlibGlzRgb {
            glz_data_size,
            data,
        } => {
            let (len, data) = u32_len(data);
            w.u32(glz_data_size).u32(len).bytes(data);
        }
        ImageData::JpegAlpha {
            top_down,
            jpeg_size,
            data,
        } => {
            let (len, data) = u32_len(data);
            // The client splits `data` at jpeg_size: never past its end.
            let flags = if top_down {
                JPEG_ALPHA_FLAG_TOP_DOWN
            } else {
                0
            };
            w.u8(flags).u32(jpeg_size.min(len)).u32(len).bytes(data);
        }
        ImageData::FromCache | ImageData::FromCacheLossless => {}
        ImageData::Surface { surface_id } => {
            w.u32(surface_id);
        }
    }
}

fn image_payload_len(desc: &ImageDescriptor, image: &ImageData<'_>) -> usize {
    match *image {
        ImageData::Bitmap32 { stride, .. } => 18usize.saturating_add(
            usize::try_from(u64::from(stride) * u64::from(desc.height)).unwrap_or(0),
        ),
        ImageData::Bitmap {
            stride, palette, ..
        } => {
            let pixels = usize::try_from(u64::from(stride) * u64::from(desc.height)).unwrap_or(0);
            let palette = match palette {
                BitmapPalette::None => 4,
                BitmapPalette::Cached(_) => 8,
                BitmapPalette::Inline { entries, .. } => 4 + 10 + 4 * entries.len().min(65535),
            };
            14usize.saturating_add(palette).saturating_add(pixels)
        }
        ImageData::Lz4 { data }
        | ImageData::Quic { data }
        | ImageData::LzRgb { data }
        | ImageData::GlzRgb { data }
        | ImageData::Jpeg { data } => 4 + data.len(),
        ImageData::ZlibGlzRgb { data, .. } => 8 + data.len(),
        ImageData::JpegAlpha { data, .. } => 9 + data.len(),
        ImageData::FromCache | ImageData::FromCacheLossless => 0,
        ImageData::Surface { .. } => 4,
    }
}

/// DRAW_COPY to `surface_id` with clip NONE, rop OP_PUT(8), scale nearest, no mask; src_area = (0,0,w,h); dest box = `dest`.
pub fn draw_copy(
    surface_id: u32,
    dest: Rect,
    desc: &ImageDescriptor,
    image: &ImageData,
) -> Vec<u8> {
    let total = (DRAW_COPY_IMAGE_OFFSET as usize)
        .saturating_add(IMAGE_DESCRIPTOR_SIZE)
        .saturating_add(image_payload_len(desc, image));
    let mut w = Writer::with_capacity(total);
    write_base(&mut w, surface_id, dest);
    w.u32(DRAW_COPY_IMAGE_OFFSET);
    Rect::from_xywh(0, 0, desc.width, desc.height).write(&mut w);
    w.u16(ROPD_OP_PUT).u8(SCALE_MODE_NEAREST);
    write_no_mask(&mut w);
    debug_assert_eq!(w.len(), DRAW_COPY_IMAGE_OFFSET as usize);
    write_image(&mut w, desc, image);
    w.into_vec()
}

/// A bitmap palette as the server sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitmapPalette<'a> {
    /// No palette (direct-colour formats).
    None,
    /// Entries (0x00RRGGBB) placed after the pixels, under `id`; with
    /// `cache_me` the client keeps them (PAL_CACHE_ME).
    Inline {
        /// The palette's unique id.
        id: u64,
        /// Ask the client to cache it.
        cache_me: bool,
        /// Colour entries; more than 65535 are cut.
        entries: &'a [u32],
    },
    /// A palette the client cached under this id (PAL_FROM_CACHE).
    Cached(u64),
}

/// Where a bitmap's palette comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaletteRef {
    /// No palette (offset 0).
    None,
    /// Body offset of an inline Palette.
    Offset(u32),
    /// Id of a palette the client cached (PAL_FROM_CACHE).
    Cached(u64),
}

/// A decoded image payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImagePayload<'a> {
    /// BITMAP.
    Bitmap {
        /// `BITMAP_FMT_*`.
        format: u8,
        /// `BITMAP_FLAG_*`.
        flags: u8,
        /// Width in pixels.
        x: u32,
        /// Height in rows.
        y: u32,
        /// Bytes per row.
        stride: u32,
        /// Palette reference.
        palette: PaletteRef,
        /// `stride` × `y` bytes.
        data: &'a [u8],
    },
    /// QUIC, LZ_RGB, GLZ_RGB, JPEG or LZ4: a length-prefixed blob.
    Binary {
        /// The codec stream.
        data: &'a [u8],
    },
    /// ZLIB_GLZ_RGB.
    ZlibGlz {
        /// Inflated size.
        glz_data_size: u32,
        /// The zlib stream.
        data: &'a [u8],
    },
    /// JPEG_ALPHA.
    JpegAlpha {
        /// `JPEG_ALPHA_FLAG_*`.
        flags: u8,
        /// The JPEG stream.
        jpeg: &'a [u8],
        /// The alpha plane's LZ stream (type XXXA).
        alpha: &'a [u8],
    },
    /// SURFACE.
    Surface {
        /// Source surface id.
        surface_id: u32,
    },
    /// FROM_CACHE or FROM_CACHE_LOSSLESS: no payload.
    Cached,
    /// LZ_PLT or an unknown type: everything after the descriptor, undecoded.
    Other {
        /// Raw bytes to the end of the message.
        raw: &'a [u8],
    },
}

/// A decoded SpiceImage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedImage<'a> {
    /// Cache id.
    pub id: u64,
    /// `IMAGE_TYPE_*`.
    pub image_type: u8,
    /// `IMAGE_FLAG_*`.
    pub flags: u8,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Type-specific payload.
    pub payload: ImagePayload<'a>,
}

fn read_blob<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], WireError> {
    let len = r.u32()?;
    r.bytes(len as usize)
}

/// Parses a `SpiceJPEGAlphaData`: u8 flags, u32 jpeg_size, u32 data_size,
/// then data, split at jpeg_size into the JPEG and the alpha stream.
fn parse_jpeg_alpha<'a>(r: &mut Reader<'a>) -> Result<ImagePayload<'a>, WireError> {
    let flags = r.u8()?;
    let jpeg_size = r.u32()?;
    let data = read_blob(r)?;
    let Some((jpeg, alpha)) = data.split_at_checked(jpeg_size as usize) else {
        return Err(WireError::Invalid {
            what: "jpeg alpha jpeg_size",
            value: u64::from(jpeg_size),
        });
    };
    Ok(ImagePayload::JpegAlpha { flags, jpeg, alpha })
}

/// Parses the SpiceImage at body offset `offset`.
pub fn parse_image(body: &[u8], offset: u32) -> Result<ParsedImage<'_>, WireError> {
    let mut r = Reader::at(body, offset as usize, "image")?;
    let id = r.u64()?;
    let image_type = r.u8()?;
    let flags = r.u8()?;
    let width = r.u32()?;
    let height = r.u32()?;
    let payload = match image_type {
        IMAGE_TYPE_BITMAP => {
            let format = r.u8()?;
            let bflags = r.u8()?;
            let x = r.u32()?;
            let y = r.u32()?;
            let stride = r.u32()?;
            let palette = if bflags & BITMAP_FLAG_PAL_FROM_CACHE != 0 {
                PaletteRef::Cached(r.u64()?)
            } else {
                match r.u32()? {
                    0 => PaletteRef::None,
                    off => PaletteRef::Offset(off),
                }
            };
            let size = u64::from(stride) * u64::from(y);
            let size = usize::try_from(size).map_err(|_| WireError::TooLarge {
                what: "bitmap size",
                value: size,
                max: usize::MAX as u64,
            })?;
            ImagePayload::Bitmap {
                format,
                flags: bflags,
                x,
                y,
                stride,
                palette,
                data: r.bytes(size)?,
            }
        }
        IMAGE_TYPE_QUIC | IMAGE_TYPE_LZ_RGB | IMAGE_TYPE_GLZ_RGB | IMAGE_TYPE_JPEG
        | IMAGE_TYPE_LZ4 => ImagePayload::Binary {
            data: read_blob(&mut r)?,
        },
        IMAGE_TYPE_ZLIB_GLZ_RGB => {
            let glz_data_size = r.u32()?;
            ImagePayload::ZlibGlz {
                glz_data_size,
                data: read_blob(&mut r)?,
            }
        }
        IMAGE_TYPE_JPEG_ALPHA => parse_jpeg_alpha(&mut r)?,
        IMAGE_TYPE_SURFACE => ImagePayload::Surface {
            surface_id: r.u32()?,
        },
        IMAGE_TYPE_FROM_CACHE | IMAGE_TYPE_FROM_CACHE_LOSSLESS => ImagePayload::Cached,
        _ => ImagePayload::Other { raw: r.rest() },
    };
    Ok(ParsedImage {
        id,
        image_type,
        flags,
        width,
        height,
        payload,
    })
}

/// Parses the Palette at body offset `offset` (client side): its id and
/// entries.
pub fn parse_palette(body: &[u8], offset: u32) -> Result<(u64, Vec<u32>), WireError> {
    let mut r = Reader::at(body, offset as usize, "palette")?;
    let id = r.u64()?;
    let n = r.u16()?;
    let entries = (0..n).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
    Ok((id, entries))
}

/// DisplayBase as the client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayBase {
    /// Target surface.
    pub surface_id: u32,
    /// Destination bounding box.
    pub dest: Rect,
    /// Clip rectangles; empty for clip NONE.
    pub clip_rects: Vec<Rect>,
}

/// Parses DisplayBase (surface, box, inline clip).
pub fn parse_display_base(r: &mut Reader<'_>) -> Result<DisplayBase, WireError> {
    let surface_id = r.u32()?;
    let dest = Rect::read(r)?;
    let clip_rects = match r.u8()? {
        CLIP_TYPE_NONE => Vec::new(),
        CLIP_TYPE_RECTS => {
            let n = r.u32()?;
            // Check the bytes exist before allocating for a count an attacker chose.
            let need = (n as usize).saturating_mul(16);
            if r.remaining() < need {
                return Err(WireError::Truncated {
                    what: r.what(),
                    need,
                    have: r.remaining(),
                });
            }
            (0..n)
                .map(|_| Rect::read(r))
                .collect::<Result<Vec<_>, _>>()?
        }
        t => {
            return Err(WireError::Invalid {
                what: "clip type",
                value: u64::from(t),
            })
        }
    };
    Ok(DisplayBase {
        surface_id,
        dest,
        clip_rects,
    })
}

/// A decoded DRAW_COPY (client side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrawCopy<'a> {
    /// Target surface.
    pub surface_id: u32,
    /// Destination box.
    pub dest: Rect,
    /// Clip rectangles; empty for clip NONE.
    pub clip_rects: Vec<Rect>,
    /// Area of the source image to copy.
    pub src_area: Rect,
    /// `SpiceRopd` bits.
    pub rop: u16,
    /// `SCALE_MODE_*`.
    pub scale_mode: u8,
    /// Mask flags.
    pub mask_flags: u8,
    /// Mask position.
    pub mask_pos: Point,
    /// Body offset of the mask image, 0 for none.
    pub mask_offset: u32,
    /// The source image.
    pub image: ParsedImage<'a>,
}

/// Parses a DRAW_COPY body (client side).
pub fn parse_draw_copy(body: &[u8]) -> Result<DrawCopy<'_>, WireError> {
    let mut r = Reader::named(body, "draw copy");
    let base = parse_display_base(&mut r)?;
    let image_offset = r.u32()?;
    let src_area = Rect::read(&mut r)?;
    let rop = r.u16()?;
    let scale_mode = r.u8()?;
    let mask_flags = r.u8()?;
    let mask_pos = Point::read(&mut r)?;
    let mask_offset = r.u32()?;
    // The image must not overlap the fixed part it is referenced from.
    if image_offset == 0 || (image_offset as usize) < r.position() {
        return Err(WireError::Invalid {
            what: "draw copy image offset",
            value: u64::from(image_offset),
        });
    }
    let image = parse_image(body, image_offset)?;
    Ok(DrawCopy {
        surface_id: base.surface_id,
        dest: base.dest,
        clip_rects: base.clip_rects,
        src_area,
        rop,
        scale_mode,
        mask_flags,
        mask_pos,
        mask_offset,
        image,
    })
}

/// STREAM_CREATE parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamCreate {
    /// Surface the stream draws on.
    pub surface_id: u32,
    /// Stream id (< 64).
    pub id: u32,
    /// `STREAM_FLAG_*`.
    pub flags: u8,
    /// `VIDEO_CODEC_*`.
    pub codec: u8,
    /// Server timestamp.
    pub stamp: u64,
    /// Encoded frame width.
    pub stream_width: u32,
    /// Encoded frame height.
    pub stream_height: u32,
    /// Source width.
    pub src_width: u32,
    /// Source height.
    pub src_height: u32,
    /// Where frames go on the surface.
    pub dest: Rect,
}

/// STREAM_CREATE body with clip NONE.
pub fn stream_create(s: &StreamCreate) -> Vec<u8> {
    let mut w = Writer::with_capacity(51);
    w.u32(s.surface_id)
        .u32(s.id)
        .u8(s.flags)
        .u8(s.codec)
        .u64(s.stamp)
        .u32(s.stream_width)
        .u32(s.stream_height)
        .u32(s.src_width)
        .u32(s.src_height);
    s.dest.write(&mut w);
    w.u8(CLIP_TYPE_NONE);
    w.into_vec()
}

/// STREAM_DATA body: one encoded frame shown at client mm-time `mm_time`.
pub fn stream_data(id: u32, mm_time: u32, data: &[u8]) -> Vec<u8> {
    let (len, data) = u32_len(data);
    let mut w = Writer::with_capacity(12 + data.len());
    w.u32(id).u32(mm_time).u32(len).bytes(data);
    w.into_vec()
}

/// STREAM_DATA_SIZED body (needs SIZED_STREAM): a frame with its own size and destination.
pub fn stream_data_sized(
    id: u32,
    mm_time: u32,
    width: u32,
    height: u32,
    dest: Rect,
    data: &[u8],
) -> Vec<u8> {
    let (len, data) = u32_len(data);
    let mut w = Writer::with_capacity(36 + data.len());
    w.u32(id).u32(mm_time).u32(width).u32(height);
    dest.write(&mut w);
    w.u32(len).bytes(data);
    w.into_vec()
}

/// STREAM_DESTROY body.
pub fn stream_destroy(id: u32) -> Vec<u8> {
    id.to_le_bytes().to_vec()
}

/// STREAM_DESTROY_ALL body (empty).
pub fn stream_destroy_all() -> Vec<u8> {
    Vec::new()
}

/// STREAM_ACTIVATE_REPORT body.
pub fn stream_activate_report(
    stream_id: u32,
    unique_id: u32,
    max_window_size: u32,
    timeout_ms: u32,
) -> Vec<u8> {
    let mut w = Writer::with_capacity(16);
    w.u32(stream_id)
        .u32(unique_id)
        .u32(max_window_size)
        .u32(timeout_ms);
    w.into_vec()
}

/// GL_SCANOUT_UNIX body; the dma-buf fd travels as SCM_RIGHTS, not in the body.
pub fn gl_scanout_unix(
    width: u32,
    height: u32,
    stride: u32,
    drm_fourcc: u32,
    flags: u32,
) -> Vec<u8> {
    let mut w = Writer::with_capacity(20);
    w.u32(width)
        .u32(height)
        .u32(stride)
        .u32(drm_fourcc)
        .u32(flags);
    w.into_vec()
}

/// GL_DRAW body; the client answers GL_DRAW_DONE.
pub fn gl_draw(x: u32, y: u32, width: u32, height: u32) -> Vec<u8> {
    let mut w = Writer::with_capacity(16);
    w.u32(x).u32(y).u32(width).u32(height);
    w.into_vec()
}

/// STREAM_REPORT from the client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamReport {
    /// Stream the report is about.
    pub stream_id: u32,
    /// Id from STREAM_ACTIVATE_REPORT.
    pub unique_id: u32,
    /// mm-time of the first frame covered.
    pub start_frame_mm_time: u32,
    /// mm-time of the last frame covered.
    pub end_frame_mm_time: u32,
    /// Frames received (0 with num_drops 0xffffffff: cannot decode).
    pub num_frames: u32,
    /// Frames dropped for arriving late.
    pub num_drops: u32,
    /// end_frame_mm_time minus client mm-time.
    pub last_frame_delay: i32,
    /// Audio latency, 0xffffffff without audio.
    pub audio_delay: u32,
}

impl StreamReport {
    /// True if the client says it cannot decode the stream at all.
    pub fn is_unsupported(&self) -> bool {
        self.num_frames == 0 && self.num_drops == u32::MAX
    }
}

/// A client→server display message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisplayClientMsg {
    /// INIT.
    Init(DisplayInit),
    /// STREAM_REPORT.
    StreamReport(StreamReport),
    /// PREFERRED_COMPRESSION (`IMAGE_COMPRESSION_*`).
    PreferredCompression(u8),
    /// GL_DRAW_DONE.
    GlDrawDone,
    /// PREFERRED_VIDEO_CODEC_TYPE: `VIDEO_CODEC_*` in preference order.
    PreferredVideoCodecType(Vec<u8>),
}

/// Parses a display client message (types 101+).
pub fn parse_display_client(msg_type: u16, body: &[u8]) -> Result<DisplayClientMsg, WireError> {
    Ok(match msg_type {
        cli::INIT => DisplayClientMsg::Init(DisplayInit::parse(body)?),
        cli::STREAM_REPORT => {
            let mut r = Reader::named(body, "stream report");
            let rep = StreamReport {
                stream_id: r.u32()?,
                unique_id: r.u32()?,
                start_frame_mm_time: r.u32()?,
                end_frame_mm_time: r.u32()?,
                num_frames: r.u32()?,
                num_drops: r.u32()?,
                last_frame_delay: r.i32()?,
                audio_delay: r.u32()?,
            };
            r.finish()?;
            DisplayClientMsg::StreamReport(rep)
        }
        cli::PREFERRED_COMPRESSION => {
            let mut r = Reader::named(body, "preferred compression");
            let c = r.u8()?;
            r.finish()?;
            DisplayClientMsg::PreferredCompression(c)
        }
        cli::GL_DRAW_DONE => {
            Reader::named(body, "gl draw done").finish()?;
            DisplayClientMsg::GlDrawDone
        }
        cli::PREFERRED_VIDEO_CODEC_TYPE => {
            let mut r = Reader::named(body, "preferred video codec type");
            let n = r.u8()?;
            let codecs = r.bytes(usize::from(n))?.to_vec();
            r.finish()?;
            DisplayClientMsg::PreferredVideoCodecType(codecs)
        }
        t => {
            return Err(WireError::Invalid {
                what: "display message type",
                value: u64::from(t),
            })
        }
    })
}

impl DisplayClientMsg {
    /// Message type and body, as a client would send them (for the test client).
    pub fn to_body(&self) -> (u16, Vec<u8>) {
        match self {
            DisplayClientMsg::Init(init) => (cli::INIT, init.to_bytes()),
            DisplayClientMsg::StreamReport(s) => {
                let mut w = Writer::with_capacity(32);
                w.u32(s.stream_id)
                    .u32(s.unique_id)
                    .u32(s.start_frame_mm_time)
                    .u32(s.end_frame_mm_time)
                    .u32(s.num_frames)
                    .u32(s.num_drops)
                    .i32(s.last_frame_delay)
                    .u32(s.audio_delay);
                (cli::STREAM_REPORT, w.into_vec())
            }
            DisplayClientMsg::PreferredCompression(c) => (cli::PREFERRED_COMPRESSION, vec![*c]),
            DisplayClientMsg::GlDrawDone => (cli::GL_DRAW_DONE, Vec::new()),
            DisplayClientMsg::PreferredVideoCodecType(codecs) => {
                let n = u8::try_from(codecs.len()).unwrap_or(u8::MAX);
                let mut body = Vec::with_capacity(1 + usize::from(n));
                body.push(n);
                body.extend(codecs.iter().take(usize::from(n)));
                (cli::PREFERRED_VIDEO_CODEC_TYPE, body)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palettized_bitmaps_carry_their_palette_inline_or_by_reference() {
        let desc = ImageDescriptor {
            id: 9,
            flags: 0,
            width: 3,
            height: 2,
        };
        let pixels = [0x12u8, 0x00, 0x34, 0x00];
        let entries = [0x00ff_0000u32, 0x0000_ff00];
        let inline = ImageData::Bitmap {
            format: BITMAP_FMT_4BIT_BE,
            stride: 2,
            palette: BitmapPalette::Inline {
                id: 77,
                cache_me: true,
                entries: &entries,
            },
            data: &pixels,
        };
        let dest = Rect::from_xywh(0, 0, 3, 2);
        let body = draw_copy(0, dest, &desc, &inline);
        let d = parse_draw_copy(&body).expect("draw");
        let ImagePayload::Bitmap {
            format,
            flags,
            palette: PaletteRef::Offset(at),
            data,
            ..
        } = d.image.payload
        else {
            panic!("{:?}", d.image.payload);
        };
        assert_eq!(format, BITMAP_FMT_4BIT_BE);
        assert_eq!(flags, BITMAP_FLAG_TOP_DOWN | BITMAP_FLAG_PAL_CACHE_ME);
        assert_eq!(data, &pixels);
        assert_eq!(
            parse_palette(&body, at).expect("palette"),
            (77, entries.to_vec())
        );
        assert_eq!(at as usize + 8 + 2 + 8, body.len());

        let cached = ImageData::Bitmap {
            format: BITMAP_FMT_4BIT_BE,
            stride: 2,
            palette: BitmapPalette::Cached(77),
            data: &pixels,
        };
        let body = draw_copy(0, dest, &desc, &cached);
        let d = parse_draw_copy(&body).expect("draw");
        assert!(matches!(
            d.image.payload,
            ImagePayload::Bitmap {
                palette: PaletteRef::Cached(77),
                ..
            }
        ));
    }

    use proptest::prelude::*;

    fn pixels(w: u32, h: u32) -> Vec<u8> {
        (0..w * h * 4).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn rect_helpers() {
        let r = Rect::from_xywh(10, 20, 30, 40);
        assert_eq!(
            r,
            Rect {
                top: 20,
                left: 10,
                bottom: 60,
                right: 40
            }
        );
        assert_eq!((r.width(), r.height()), (30, 40));
        assert!(!r.is_empty());
        let inverted = Rect {
            top: 5,
            left: 5,
            bottom: 0,
            right: 0,
        };
        assert_eq!((inverted.width(), inverted.height()), (0, 0));
        assert!(inverted.is_empty());
        let big = Rect::from_xywh(i32::MAX - 1, 0, u32::MAX, 1);
        assert_eq!(big.right, i32::MAX);
        let wide = Rect {
            top: 0,
            left: i32::MIN,
            bottom: 1,
            right: i32::MAX,
        };
        assert_eq!(wide.width(), u32::MAX);
    }

    #[test]
    fn display_init_live_capture() {
        // spice-gtk: 01 0000400100000000 01 00003000
        let b = [1, 0, 0, 0x40, 1, 0, 0, 0, 0, 1, 0, 0, 0x30, 0];
        let init = DisplayInit::parse(&b).unwrap();
        assert_eq!(
            init,
            DisplayInit {
                pixmap_cache_id: 1,
                pixmap_cache_size: 20_971_520,
                glz_dictionary_id: 1,
                glz_window_size: 3_145_728
            }
        );
        assert_eq!(init.to_bytes(), b.to_vec());
        for n in 0..b.len() {
            assert!(matches!(
                DisplayInit::parse(&b[..n]),
                Err(WireError::Truncated { .. })
            ));
        }
        let mut long = b.to_vec();
        long.push(0);
        assert!(matches!(
            DisplayInit::parse(&long),
            Err(WireError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn surface_messages() {
        let b = surface_create(0, 1024, 768, SURFACE_FMT_32_XRGB, SURFACE_FLAG_PRIMARY);
        assert_eq!(b.len(), 20);
        assert_eq!(&b[12..16], &32u32.to_le_bytes());
        let s = parse_surface_create(&b).unwrap();
        assert_eq!((s.width, s.height, s.format, s.flags), (1024, 768, 32, 1));
        for n in 0..b.len() {
            assert!(parse_surface_create(&b[..n]).is_err());
        }
        assert_eq!(surface_destroy(3), vec![3, 0, 0, 0]);
        assert_eq!(parse_surface_destroy(&surface_destroy(3)), Ok(3));
        assert!(parse_surface_destroy(&[3, 0, 0]).is_err());
    }

    #[test]
    fn monitors_config_round_trip() {
        let head = MonitorConfigHead {
            id: 0,
            surface_id: 0,
            width: 800,
            height: 600,
            x: 0,
            y: 0,
            flags: 0,
        };
        let b = monitors_config(&[head], 1);
        assert_eq!(b.len(), 4 + 28);
        assert_eq!(&b[..4], &[1, 0, 1, 0]);
        assert_eq!(&b[12..16], &800u32.to_le_bytes());
        assert_eq!(parse_monitors_config(&b), Ok((vec![head], 1)));
        for n in 0..b.len() {
            assert!(matches!(
                parse_monitors_config(&b[..n]),
                Err(WireError::Truncated { .. })
            ));
        }
    }

    #[test]
    fn empty_bodies() {
        assert!(mark().is_empty());
        assert!(reset().is_empty());
        assert!(inval_all_palettes().is_empty());
        assert!(stream_destroy_all().is_empty());
    }

    #[test]
    fn inval_messages() {
        assert_eq!(inval_palette(2), 2u64.to_le_bytes().to_vec());
        let b = inval_list(&[5, 1 << 40]);
        assert_eq!(b.len(), 2 + 18);
        assert_eq!(parse_inval_list(&b), Ok(vec![(1, 5), (1, 1 << 40)]));
        for n in 0..b.len() {
            assert!(parse_inval_list(&b[..n]).is_err());
        }
        let w = [WaitForChannel {
            channel_type: 2,
            channel_id: 1,
            message_serial: 9,
        }];
        assert_eq!(
            parse_inval_all_pixmaps(&inval_all_pixmaps(&w)),
            Ok(w.to_vec())
        );
    }

    #[test]
    fn draw_copy_bitmap_layout() {
        let (w, h) = (4u32, 3u32);
        let px = pixels(w, h);
        let desc = ImageDescriptor {
            id: 0x42,
            flags: 0,
            width: w,
            height: h,
        };
        let body = draw_copy(
            0,
            Rect::from_xywh(8, 16, w, h),
            &desc,
            &ImageData::Bitmap32 {
                stride: w * 4,
                data: &px,
            },
        );
        // DisplayBase.
        assert_eq!(&body[0..4], &0u32.to_le_bytes());
        assert_eq!(&body[4..8], &16i32.to_le_bytes()); // top
        assert_eq!(&body[8..12], &8i32.to_le_bytes()); // left
        assert_eq!(&body[12..16], &19i32.to_le_bytes()); // bottom
        assert_eq!(&body[16..20], &12i32.to_le_bytes()); // right
        assert_eq!(body[20], CLIP_TYPE_NONE);
        // Copy.
        assert_eq!(&body[21..25], &57u32.to_le_bytes());
        assert_eq!(
            &body[25..41],
            &[0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0]
        );
        assert_eq!(&body[41..43], &8u16.to_le_bytes());
        assert_eq!(body[43], SCALE_MODE_NEAREST);
        assert_eq!(&body[44..57], &[0u8; 13]);
        // Image descriptor.
        assert_eq!(&body[57..65], &0x42u64.to_le_bytes());
        assert_eq!(body[65], IMAGE_TYPE_BITMAP);
        assert_eq!(body[66], 0);
        assert_eq!(&body[67..71], &w.to_le_bytes());
        assert_eq!(&body[71..75], &h.to_le_bytes());
        // Bitmap header.
        assert_eq!(body[75], BITMAP_FMT_32BIT);
        assert_eq!(body[76], BITMAP_FLAG_TOP_DOWN);
        assert_eq!(&body[77..81], &w.to_le_bytes());
        assert_eq!(&body[81..85], &h.to_le_bytes());
        assert_eq!(&body[85..89], &(w * 4).to_le_bytes());
        assert_eq!(&body[89..93], &0u32.to_le_bytes());
        assert_eq!(&body[93..], &px[..]);
    }

    #[test]
    fn draw_copy_bitmap_round_trip() {
        let (w, h) = (5u32, 2u32);
        let stride = w * 4 + 4;
        let px: Vec<u8> = (0..stride * h).map(|i| i as u8).collect();
        let desc = ImageDescriptor {
            id: 7,
            flags: IMAGE_FLAG_CACHE_ME,
            width: w,
            height: h,
        };
        let dest = Rect::from_xywh(0, 0, w, h);
        let body = draw_copy(3, dest, &desc, &ImageData::Bitmap32 { stride, data: &px });
        let d = parse_draw_copy(&body).unwrap();
        assert_eq!(d.surface_id, 3);
        assert_eq!(d.dest, dest);
        assert!(d.clip_rects.is_empty());
        assert_eq!(d.src_area, Rect::from_xywh(0, 0, w, h));
        assert_eq!(d.rop, ROPD_OP_PUT);
        assert_eq!(d.scale_mode, SCALE_MODE_NEAREST);
        assert_eq!(d.mask_offset, 0);
        assert_eq!(
            (d.image.id, d.image.image_type, d.image.flags),
            (7, IMAGE_TYPE_BITMAP, IMAGE_FLAG_CACHE_ME)
        );
        assert_eq!((d.image.width, d.image.height), (w, h));
        assert_eq!(
            d.image.payload,
            ImagePayload::Bitmap {
                format: BITMAP_FMT_32BIT,
                flags: BITMAP_FLAG_TOP_DOWN,
                x: w,
                y: h,
                stride,
                palette: PaletteRef::None,
                data: &px
            }
        );
    }

    #[test]
    fn draw_copy_bitmap_pads_or_cuts_data() {
        let desc = ImageDescriptor {
            id: 0,
            flags: 0,
            width: 1,
            height: 2,
        };
        let short = draw_copy(
            0,
            Rect::from_xywh(0, 0, 1, 2),
            &desc,
            &ImageData::Bitmap32 {
                stride: 4,
                data: &[1, 2, 3],
            },
        );
        assert_eq!(short.len(), 57 + 18 + 18 + 8);
        assert_eq!(&short[93..], &[1, 2, 3, 0, 0, 0, 0, 0]);
        let long = draw_copy(
            0,
            Rect::from_xywh(0, 0, 1, 2),
            &desc,
            &ImageData::Bitmap32 {
                stride: 4,
                data: &[9; 20],
            },
        );
        assert_eq!(long.len(), 57 + 18 + 18 + 8);
    }

    #[test]
    fn draw_copy_binary_payloads_round_trip() {
        let blob = [0xaa, 0xbb, 0xcc, 0xdd, 0xee];
        let desc = ImageDescriptor {
            id: 1,
            flags: 0,
            width: 2,
            height: 2,
        };
        let cases: Vec<(ImageData<'_>, ImagePayload<'_>)> = vec![
            (
                ImageData::Lz4 { data: &blob },
                ImagePayload::Binary { data: &blob },
            ),
            (
                ImageData::Quic { data: &blob[..4] },
                ImagePayload::Binary { data: &blob[..4] },
            ),
            (
                ImageData::LzRgb { data: &blob },
                ImagePayload::Binary { data: &blob },
            ),
            (
                ImageData::GlzRgb { data: &blob },
                ImagePayload::Binary { data: &blob },
            ),
            (
                ImageData::Jpeg { data: &blob },
                ImagePayload::Binary { data: &blob },
            ),
            (
                ImageData::ZlibGlzRgb {
                    glz_data_size: 99,
                    data: &blob,
                },
                ImagePayload::ZlibGlz {
                    glz_data_size: 99,
                    data: &blob,
                },
            ),
            (
                ImageData::JpegAlpha {
                    top_down: true,
                    jpeg_size: 3,
                    data: &blob,
                },
                ImagePayload::JpegAlpha {
                    flags: JPEG_ALPHA_FLAG_TOP_DOWN,
                    jpeg: &blob[..3],
                    alpha: &blob[3..],
                },
            ),
            (
                ImageData::JpegAlpha {
                    top_down: false,
                    jpeg_size: 5,
                    data: &blob,
                },
                ImagePayload::JpegAlpha {
                    flags: 0,
                    jpeg: &blob,
                    alpha: &[],
                },
            ),
            (ImageData::FromCache, ImagePayload::Cached),
            (ImageData::FromCacheLossless, ImagePayload::Cached),
            (
                ImageData::Surface { surface_id: 4 },
                ImagePayload::Surface { surface_id: 4 },
            ),
        ];
        for (data, expect) in cases {
            let body = draw_copy(0, Rect::from_xywh(0, 0, 2, 2), &desc, &data);
            assert_eq!(body.len(), 57 + 18 + image_payload_len(&desc, &data));
            let d = parse_draw_copy(&body).unwrap();
            assert_eq!(d.image.image_type, data.image_type());
            assert_eq!(d.image.payload, expect);
            for n in 0..body.len() {
                assert!(parse_draw_copy(&body[..n]).is_err(), "{data:?} prefix {n}");
            }
        }
    }

    #[test]
    fn lz4_layout() {
        let desc = ImageDescriptor {
            id: 0,
            flags: 0,
            width: 1,
            height: 1,
        };
        let body = draw_copy(
            0,
            Rect::from_xywh(0, 0, 1, 1),
            &desc,
            &ImageData::Lz4 {
                data: &[1, 8, 0, 0, 0, 1, 0],
            },
        );
        assert_eq!(body[65], 109);
        assert_eq!(&body[75..79], &7u32.to_le_bytes());
        assert_eq!(&body[79..], &[1, 8, 0, 0, 0, 1, 0]);
    }

    #[test]
    fn draw_copy_truncated_at_every_byte() {
        let px = pixels(2, 2);
        let desc = ImageDescriptor {
            id: 0,
            flags: 0,
            width: 2,
            height: 2,
        };
        let body = draw_copy(
            0,
            Rect::from_xywh(0, 0, 2, 2),
            &desc,
            &ImageData::Bitmap32 {
                stride: 8,
                data: &px,
            },
        );
        for n in 0..body.len() {
            assert!(parse_draw_copy(&body[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn draw_copy_bad_values() {
        let desc = ImageDescriptor {
            id: 0,
            flags: 0,
            width: 1,
            height: 1,
        };
        let body = draw_copy(0, Rect::from_xywh(0, 0, 1, 1), &desc, &ImageData::FromCache);
        let mut b = body.clone();
        b[20] = 2;
        assert_eq!(
            parse_draw_copy(&b),
            Err(WireError::Invalid {
                what: "clip type",
                value: 2
            })
        );
        let mut b = body.clone();
        b[21..25].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(
            parse_draw_copy(&b),
            Err(WireError::Invalid {
                what: "draw copy image offset",
                ..
            })
        ));
        let mut b = body.clone();
        b[21..25].copy_from_slice(&10u32.to_le_bytes());
        assert!(matches!(
            parse_draw_copy(&b),
            Err(WireError::Invalid { .. })
        ));
        let mut b = body.clone();
        b[21..25].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            parse_draw_copy(&b),
            Err(WireError::Invalid { .. })
        ));
        // A bitmap claiming more rows than it carries.
        let px = [0u8; 4];
        let mut b = draw_copy(
            0,
            Rect::from_xywh(0, 0, 1, 1),
            &desc,
            &ImageData::Bitmap32 {
                stride: 4,
                data: &px,
            },
        );
        b[81..85].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            parse_draw_copy(&b),
            Err(WireError::Truncated { .. })
        ));
    }

    #[test]
    fn draw_copy_with_clip_rects_parses() {
        let desc = ImageDescriptor {
            id: 0,
            flags: 0,
            width: 1,
            height: 1,
        };
        let plain = draw_copy(0, Rect::from_xywh(0, 0, 1, 1), &desc, &ImageData::FromCache);
        // Rebuild with one clip rect: shifts everything after the clip by 20 bytes.
        let clip = Rect::from_xywh(0, 0, 1, 1);
        let mut w = Writer::new();
        w.bytes(&plain[..20]).u8(CLIP_TYPE_RECTS).u32(1);
        clip.write(&mut w);
        w.u32(57 + 20).bytes(&plain[25..]);
        let b = w.into_vec();
        let d = parse_draw_copy(&b).unwrap();
        assert_eq!(d.clip_rects, vec![clip]);
        assert_eq!(d.image.payload, ImagePayload::Cached);
        // A lying clip count fails without allocating.
        let mut lie = b.clone();
        lie[21..25].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            parse_draw_copy(&lie),
            Err(WireError::Truncated { .. })
        ));
    }

    #[test]
    fn bitmap_with_cached_palette_parses() {
        let mut w = Writer::new();
        w.u64(1).u8(IMAGE_TYPE_BITMAP).u8(0).u32(1).u32(1);
        w.u8(BITMAP_FMT_8BIT)
            .u8(BITMAP_FLAG_PAL_FROM_CACHE)
            .u32(1)
            .u32(1)
            .u32(1)
            .u64(77)
            .u8(3);
        let b = w.into_vec();
        let img = parse_image(&b, 0).unwrap();
        assert!(matches!(
            img.payload,
            ImagePayload::Bitmap {
                palette: PaletteRef::Cached(77),
                data: [3],
                ..
            }
        ));
        let mut w = Writer::new();
        w.u64(1)
            .u8(IMAGE_TYPE_LZ_PLT)
            .u8(0)
            .u32(1)
            .u32(1)
            .bytes(&[5, 6]);
        let b = w.into_vec();
        assert_eq!(
            parse_image(&b, 0).unwrap().payload,
            ImagePayload::Other { raw: &[5, 6] }
        );
    }

    /// A JPEG_ALPHA descriptor then `flags`, `jpeg_size`, `data_size`, `data`.
    fn jpeg_alpha_image(flags: u8, jpeg_size: u32, data_size: u32, data: &[u8]) -> Vec<u8> {
        let mut w = Writer::new();
        w.u64(1).u8(IMAGE_TYPE_JPEG_ALPHA).u8(0).u32(1).u32(1);
        w.u8(flags).u32(jpeg_size).u32(data_size).bytes(data);
        w.into_vec()
    }

    #[test]
    fn jpeg_alpha_layout() {
        let desc = ImageDescriptor {
            id: 0,
            flags: 0,
            width: 1,
            height: 1,
        };
        let data = [1, 2, 3, 4, 5, 6];
        let image = ImageData::JpegAlpha {
            top_down: true,
            jpeg_size: 4,
            data: &data,
        };
        let body = draw_copy(0, Rect::from_xywh(0, 0, 1, 1), &desc, &image);
        assert_eq!(body[65], IMAGE_TYPE_JPEG_ALPHA);
        assert_eq!(body[75], JPEG_ALPHA_FLAG_TOP_DOWN);
        assert_eq!(&body[76..80], &4u32.to_le_bytes());
        assert_eq!(&body[80..84], &6u32.to_le_bytes());
        assert_eq!(&body[84..], &data);
    }

    #[test]
    fn jpeg_alpha_size_beyond_data_is_clamped_or_refused() {
        // The writer never announces more JPEG than it sends.
        let desc = ImageDescriptor::default();
        let image = ImageData::JpegAlpha {
            top_down: true,
            jpeg_size: 50,
            data: &[9, 9],
        };
        let body = draw_copy(0, Rect::from_xywh(0, 0, 1, 1), &desc, &image);
        assert_eq!(&body[76..80], &2u32.to_le_bytes());
        // The parser refuses a jpeg_size past data_size.
        let b = jpeg_alpha_image(1, 3, 2, &[7, 8]);
        assert_eq!(
            parse_image(&b, 0),
            Err(WireError::Invalid {
                what: "jpeg alpha jpeg_size",
                value: 3
            })
        );
        let b = jpeg_alpha_image(1, 2, 2, &[7, 8]);
        assert_eq!(
            parse_image(&b, 0).unwrap().payload,
            ImagePayload::JpegAlpha {
                flags: 1,
                jpeg: &[7, 8],
                alpha: &[]
            }
        );
        // A data_size past the message's end is truncation, not a panic.
        let b = jpeg_alpha_image(1, 0, u32::MAX, &[7, 8]);
        assert!(matches!(
            parse_image(&b, 0),
            Err(WireError::Truncated { .. })
        ));
    }

    #[test]
    fn other_draw_bodies() {
        let dest = Rect::from_xywh(1, 2, 3, 4);
        let cb = copy_bits(0, dest, Point { x: 5, y: 6 });
        assert_eq!(cb.len(), 29);
        assert_eq!(&cb[21..29], &[5, 0, 0, 0, 6, 0, 0, 0]);
        let mut r = Reader::new(&cb);
        let base = parse_display_base(&mut r).unwrap();
        assert_eq!(base.dest, dest);
        let fill = draw_fill_solid(0, dest, 0x00ff00);
        assert_eq!(fill.len(), 41);
        assert_eq!(fill[21], BRUSH_TYPE_SOLID);
        assert_eq!(&fill[22..26], &0x00ff00u32.to_le_bytes());
        assert_eq!(&fill[26..28], &8u16.to_le_bytes());
    }

    #[test]
    fn stream_bodies() {
        let s = StreamCreate {
            surface_id: 0,
            id: 3,
            flags: STREAM_FLAG_TOP_DOWN,
            codec: VIDEO_CODEC_MJPEG,
            stamp: 9,
            stream_width: 64,
            stream_height: 48,
            src_width: 64,
            src_height: 48,
            dest: Rect::from_xywh(0, 0, 64, 48),
        };
        let b = stream_create(&s);
        assert_eq!(b.len(), 51);
        assert_eq!(b[8], 1);
        assert_eq!(b[9], 1);
        assert_eq!(b[50], CLIP_TYPE_NONE);
        let d = stream_data(3, 1000, &[1, 2, 3]);
        assert_eq!(d, vec![3, 0, 0, 0, 0xe8, 3, 0, 0, 3, 0, 0, 0, 1, 2, 3]);
        let ds = stream_data_sized(3, 1, 64, 48, s.dest, &[7]);
        assert_eq!(ds.len(), 36 + 1);
        assert_eq!(stream_destroy(3), vec![3, 0, 0, 0]);
        assert_eq!(stream_activate_report(1, 2, 3, 4).len(), 16);
        assert_eq!(gl_scanout_unix(1, 2, 3, 4, GL_SCANOUT_FLAG_Y0TOP).len(), 20);
        assert_eq!(gl_draw(0, 0, 1, 1).len(), 16);
    }

    fn client_msgs() -> Vec<DisplayClientMsg> {
        vec![
            DisplayClientMsg::Init(DisplayInit {
                pixmap_cache_id: 1,
                pixmap_cache_size: 104_857_600,
                glz_dictionary_id: 0,
                glz_window_size: 0,
            }),
            DisplayClientMsg::StreamReport(StreamReport {
                stream_id: 1,
                unique_id: 2,
                start_frame_mm_time: 3,
                end_frame_mm_time: 4,
                num_frames: 0,
                num_drops: u32::MAX,
                last_frame_delay: -5,
                audio_delay: u32::MAX,
            }),
            DisplayClientMsg::PreferredCompression(IMAGE_COMPRESSION_LZ4),
            DisplayClientMsg::GlDrawDone,
            DisplayClientMsg::PreferredVideoCodecType(vec![VIDEO_CODEC_H264, VIDEO_CODEC_VP8]),
        ]
    }

    #[test]
    fn client_messages_round_trip() {
        for m in client_msgs() {
            let (ty, body) = m.to_body();
            assert_eq!(parse_display_client(ty, &body), Ok(m.clone()));
            for n in 0..body.len() {
                assert!(
                    matches!(
                        parse_display_client(ty, &body[..n]),
                        Err(WireError::Truncated { .. })
                    ),
                    "{m:?} prefix {n}"
                );
            }
            let mut long = body;
            long.push(0);
            assert!(matches!(
                parse_display_client(ty, &long),
                Err(WireError::TrailingBytes { .. })
            ));
        }
        let DisplayClientMsg::StreamReport(rep) = &client_msgs()[1] else {
            unreachable!()
        };
        assert!(rep.is_unsupported());
    }

    #[test]
    fn client_unknown_type() {
        assert_eq!(
            parse_display_client(106, &[]),
            Err(WireError::Invalid {
                what: "display message type",
                value: 106
            })
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic(ty in 99u16..108, data in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = parse_display_client(ty, &data);
            let _ = parse_draw_copy(&data);
            let _ = parse_image(&data, 0);
            let _ = parse_surface_create(&data);
            let _ = parse_monitors_config(&data);
            let _ = parse_inval_list(&data);
            let _ = DisplayInit::parse(&data);
        }

        #[test]
        fn draw_copy_prefix_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..64), ty in any::<u8>()) {
            // Random image bytes behind a valid fixed part exercise every image branch.
            let desc = ImageDescriptor { id: 0, flags: 0, width: 1, height: 1 };
            let mut body = draw_copy(0, Rect::default(), &desc, &ImageData::FromCache);
            body[65] = ty;
            body.extend_from_slice(&tail);
            let _ = parse_draw_copy(&body);
        }

        #[test]
        fn bitmap_round_trips(w in 1u32..8, h in 1u32..8, pad in 0u32..3, id in any::<u64>()) {
            let stride = w * 4 + pad;
            let px: Vec<u8> = (0..stride * h).map(|i| (i * 7) as u8).collect();
            let desc = ImageDescriptor { id, flags: 0, width: w, height: h };
            let body = draw_copy(0, Rect::from_xywh(0, 0, w, h), &desc, &ImageData::Bitmap32 { stride, data: &px });
            let d = parse_draw_copy(&body).unwrap();
            prop_assert_eq!(d.image.id, id);
            let ok = matches!(d.image.payload, ImagePayload::Bitmap { data, .. } if data == &px[..]);
            prop_assert!(ok);
        }
    }
}
