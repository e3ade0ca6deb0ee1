//! Cursor channel (type 4): pointer shape and position, server to client only.

use crate::wire::{Reader, WireError, Writer};

/// Cursor flag: there is no cursor (no header, no data).
pub const CURSOR_FLAG_NONE: u16 = 1;
/// Cursor flag: the client caches the shape under `unique`.
pub const CURSOR_FLAG_CACHE_ME: u16 = 2;
/// Cursor flag: use the shape cached under `unique`; no data follows.
pub const CURSOR_FLAG_FROM_CACHE: u16 = 4;

/// Cursor type: 32-bit ARGB (bytes B,G,R,A), the easiest to produce.
pub const CURSOR_TYPE_ALPHA: u8 = 0;
/// Cursor type: 1-bpp AND and XOR masks.
pub const CURSOR_TYPE_MONO: u8 = 1;
/// Cursor type: 4-bpp palette plus mask.
pub const CURSOR_TYPE_COLOR4: u8 = 2;
/// Cursor type: 8-bpp (not implemented by spice-gtk).
pub const CURSOR_TYPE_COLOR8: u8 = 3;
/// Cursor type: 16-bpp plus mask.
pub const CURSOR_TYPE_COLOR16: u8 = 4;
/// Cursor type: 24-bpp (not implemented by spice-gtk).
pub const CURSOR_TYPE_COLOR24: u8 = 5;
/// Cursor type: 32-bpp plus mask.
pub const CURSOR_TYPE_COLOR32: u8 = 6;

/// Size of the cursor header that follows the flags.
pub const CURSOR_HEADER_SIZE: usize = 17;

/// An ALPHA cursor shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CursorShape<'a> {
    /// Cache key.
    pub unique: u64,
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// Hotspot column.
    pub hot_x: u16,
    /// Hotspot row.
    pub hot_y: u16,
    /// w*h*4 bytes B,G,R,A
    pub argb: &'a [u8],
}

impl CursorShape<'_> {
    /// Bytes the shape data occupies on the wire.
    pub fn data_len(&self) -> usize {
        usize::from(self.width) * usize::from(self.height) * 4
    }
}

/// What a SET or INIT says about the shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CursorRef<'a> {
    /// No cursor.
    None,
    /// A new ALPHA shape; with `cache_me` the client keeps it under `shape.unique`.
    Alpha {
        /// The shape.
        shape: CursorShape<'a>,
        /// Ask the client to cache it.
        cache_me: bool,
    },
    /// A shape the client already cached under this id.
    FromCache(u64),
}

impl<'a> From<Option<&CursorShape<'a>>> for CursorRef<'a> {
    fn from(shape: Option<&CursorShape<'a>>) -> Self {
        match shape {
            None => CursorRef::None,
            Some(s) => CursorRef::Alpha {
                shape: *s,
                cache_me: false,
            },
        }
    }
}

/// Appends a SpiceCursor; shape data is cut or zero-padded to w*h*4 so the size always matches.
pub fn write_cursor(w: &mut Writer, cursor: &CursorRef<'_>) {
    match *cursor {
        CursorRef::None => {
            w.u16(CURSOR_FLAG_NONE);
        }
        CursorRef::Alpha { shape, cache_me } => {
            let flags = if cache_me { CURSOR_FLAG_CACHE_ME } else { 0 };
            w.u16(flags)
                .u64(shape.unique)
                .u8(CURSOR_TYPE_ALPHA)
                .u16(shape.width)
                .u16(shape.height)
                .u16(shape.hot_x)
                .u16(shape.hot_y);
            let size = shape.data_len();
            let have = shape.argb.get(..size).unwrap_or(shape.argb);
            w.bytes(have).zeros(size - have.len());
        }
        CursorRef::FromCache(unique) => {
            // The header is still present with FROM_CACHE; only the data is omitted.
            w.u16(CURSOR_FLAG_FROM_CACHE)
                .u64(unique)
                .u8(CURSOR_TYPE_ALPHA)
                .u16(0)
                .u16(0)
                .u16(0)
                .u16(0);
        }
    }
}

fn cursor_capacity(cursor: &CursorRef<'_>) -> usize {
    match cursor {
        CursorRef::Alpha { shape, .. } => 2 + CURSOR_HEADER_SIZE + shape.data_len(),
        _ => 2 + CURSOR_HEADER_SIZE,
    }
}

/// CURSOR_INIT body with any cursor reference.
pub fn cursor_init_with(
    x: i16,
    y: i16,
    trail_length: u16,
    trail_frequency: u16,
    visible: bool,
    cursor: &CursorRef<'_>,
) -> Vec<u8> {
    let mut w = Writer::with_capacity(9 + cursor_capacity(cursor));
    w.i16(x)
        .i16(y)
        .u16(trail_length)
        .u16(trail_frequency)
        .u8(u8::from(visible));
    write_cursor(&mut w, cursor);
    w.into_vec()
}

/// CURSOR_INIT body (send it first: spice-gtk ignores SET and MOVE before INIT).
pub fn cursor_init(
    x: i16,
    y: i16,
    trail_length: u16,
    trail_frequency: u16,
    visible: bool,
    shape: Option<&CursorShape>,
) -> Vec<u8> {
    cursor_init_with(x, y, trail_length, trail_frequency, visible, &shape.into())
}

/// CURSOR_SET body with any cursor reference.
pub fn cursor_set_with(x: i16, y: i16, visible: bool, cursor: &CursorRef<'_>) -> Vec<u8> {
    let mut w = Writer::with_capacity(5 + cursor_capacity(cursor));
    w.i16(x).i16(y).u8(u8::from(visible));
    write_cursor(&mut w, cursor);
    w.into_vec()
}

/// CURSOR_SET body (spice-gtk ignores `visible`; hide with `cursor_hide` or a None shape).
pub fn cursor_set(x: i16, y: i16, visible: bool, shape: Option<&CursorShape>) -> Vec<u8> {
    cursor_set_with(x, y, visible, &shape.into())
}

/// CURSOR_MOVE body.
pub fn cursor_move(x: i16, y: i16) -> Vec<u8> {
    let mut w = Writer::with_capacity(4);
    w.i16(x).i16(y);
    w.into_vec()
}

/// CURSOR_HIDE body (empty).
pub fn cursor_hide() -> Vec<u8> {
    Vec::new()
}

/// CURSOR_RESET body (empty); also clears the client's cursor cache.
pub fn cursor_reset() -> Vec<u8> {
    Vec::new()
}

/// CURSOR_TRAIL body (ignored by spice-gtk).
pub fn cursor_trail(length: u16, frequency: u16) -> Vec<u8> {
    let mut w = Writer::with_capacity(4);
    w.u16(length).u16(frequency);
    w.into_vec()
}

/// CURSOR_INVAL_ONE body.
pub fn cursor_inval_one(unique: u64) -> Vec<u8> {
    unique.to_le_bytes().to_vec()
}

/// CURSOR_INVAL_ALL body (empty).
pub fn cursor_inval_all() -> Vec<u8> {
    Vec::new()
}

/// Parses CURSOR_MOVE into (x, y) (client side).
pub fn parse_cursor_move(body: &[u8]) -> Result<(i16, i16), WireError> {
    let mut r = Reader::named(body, "cursor move");
    let p = (r.i16()?, r.i16()?);
    r.finish()?;
    Ok(p)
}

/// A decoded SpiceCursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedCursor<'a> {
    /// `CURSOR_FLAG_*`.
    pub flags: u16,
    /// Cache key (0 with NONE).
    pub unique: u64,
    /// `CURSOR_TYPE_*`.
    pub cursor_type: u8,
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// Hotspot column.
    pub hot_x: u16,
    /// Hotspot row.
    pub hot_y: u16,
    /// Shape data, everything to the end of the message.
    pub data: &'a [u8],
}

fn parse_cursor<'a>(r: &mut Reader<'a>) -> Result<ParsedCursor<'a>, WireError> {
    let flags = r.u16()?;
    if flags & CURSOR_FLAG_NONE != 0 {
        return Ok(ParsedCursor {
            flags,
            unique: 0,
            cursor_type: 0,
            width: 0,
            height: 0,
            hot_x: 0,
            hot_y: 0,
            data: r.rest(),
        });
    }
    let unique = r.u64()?;
    let cursor_type = r.u8()?;
    let width = r.u16()?;
    let height = r.u16()?;
    let hot_x = r.u16()?;
    let hot_y = r.u16()?;
    let data = r.rest();
    if cursor_type == CURSOR_TYPE_ALPHA && flags & CURSOR_FLAG_FROM_CACHE == 0 {
        let need = usize::from(width) * usize::from(height) * 4;
        if data.len() != need {
            return Err(WireError::Invalid {
                what: "alpha cursor data length",
                value: data.len() as u64,
            });
        }
    }
    Ok(ParsedCursor {
        flags,
        unique,
        cursor_type,
        width,
        height,
        hot_x,
        hot_y,
        data,
    })
}

/// CURSOR_SET as the client sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CursorSet<'a> {
    /// Pointer x.
    pub x: i16,
    /// Pointer y.
    pub y: i16,
    /// Visibility byte.
    pub visible: bool,
    /// The shape.
    pub cursor: ParsedCursor<'a>,
}

/// Parses CURSOR_SET (client side).
pub fn parse_cursor_set(body: &[u8]) -> Result<CursorSet<'_>, WireError> {
    let mut r = Reader::named(body, "cursor set");
    Ok(CursorSet {
        x: r.i16()?,
        y: r.i16()?,
        visible: r.u8()? != 0,
        cursor: parse_cursor(&mut r)?,
    })
}

/// CURSOR_INIT as the client sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CursorInit<'a> {
    /// Pointer x.
    pub x: i16,
    /// Pointer y.
    pub y: i16,
    /// Trail length.
    pub trail_length: u16,
    /// Trail frequency.
    pub trail_frequency: u16,
    /// Visibility byte.
    pub visible: bool,
    /// The shape.
    pub cursor: ParsedCursor<'a>,
}

/// Parses CURSOR_INIT (client side).
pub fn parse_cursor_init(body: &[u8]) -> Result<CursorInit<'_>, WireError> {
    let mut r = Reader::named(body, "cursor init");
    Ok(CursorInit {
        x: r.i16()?,
        y: r.i16()?,
        trail_length: r.u16()?,
        trail_frequency: r.u16()?,
        visible: r.u8()? != 0,
        cursor: parse_cursor(&mut r)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ARGB: [u8; 2 * 3 * 4] = [
        1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 0, 10, 11, 12, 128, 13, 14, 15, 255, 16, 17, 18, 255,
    ];

    fn shape() -> CursorShape<'static> {
        CursorShape {
            unique: 0xabcd,
            width: 2,
            height: 3,
            hot_x: 1,
            hot_y: 2,
            argb: &ARGB,
        }
    }

    #[test]
    fn init_none_layout() {
        let b = cursor_init(-1, 2, 0, 0, true, None);
        assert_eq!(b, vec![0xff, 0xff, 2, 0, 0, 0, 0, 0, 1, 1, 0]);
        let p = parse_cursor_init(&b).unwrap();
        assert_eq!((p.x, p.y, p.visible), (-1, 2, true));
        assert_eq!(p.cursor.flags, CURSOR_FLAG_NONE);
        assert!(p.cursor.data.is_empty());
    }

    #[test]
    fn init_alpha_layout_and_round_trip() {
        let s = shape();
        let b = cursor_init(10, 20, 3, 4, true, Some(&s));
        assert_eq!(b.len(), 9 + 2 + 17 + ARGB.len());
        assert_eq!(&b[9..11], &[0, 0]);
        assert_eq!(&b[11..19], &0xabcdu64.to_le_bytes());
        assert_eq!(b[19], CURSOR_TYPE_ALPHA);
        assert_eq!(&b[20..28], &[2, 0, 3, 0, 1, 0, 2, 0]);
        assert_eq!(&b[28..], &ARGB);
        let p = parse_cursor_init(&b).unwrap();
        assert_eq!(
            (p.x, p.y, p.trail_length, p.trail_frequency),
            (10, 20, 3, 4)
        );
        assert_eq!(
            p.cursor,
            ParsedCursor {
                flags: 0,
                unique: 0xabcd,
                cursor_type: CURSOR_TYPE_ALPHA,
                width: 2,
                height: 3,
                hot_x: 1,
                hot_y: 2,
                data: &ARGB
            }
        );
    }

    #[test]
    fn set_round_trip_and_truncation() {
        let s = shape();
        let b = cursor_set(5, -6, false, Some(&s));
        assert_eq!(b.len(), 5 + 2 + 17 + ARGB.len());
        let p = parse_cursor_set(&b).unwrap();
        assert_eq!((p.x, p.y, p.visible), (5, -6, false));
        assert_eq!(p.cursor.data, &ARGB);
        for n in 0..b.len() {
            assert!(parse_cursor_set(&b[..n]).is_err(), "prefix {n}");
        }
        let none = cursor_set(0, 0, true, None);
        assert_eq!(none.len(), 7);
        assert_eq!(
            parse_cursor_set(&none).unwrap().cursor.flags,
            CURSOR_FLAG_NONE
        );
    }

    #[test]
    fn shape_data_is_cut_or_padded() {
        let mut s = shape();
        s.argb = &ARGB[..5];
        let b = cursor_set(0, 0, true, Some(&s));
        assert_eq!(b.len(), 5 + 2 + 17 + 24);
        assert!(b[24 + 5..].iter().all(|&x| x == 0));
        let long = [7u8; 100];
        s.argb = &long;
        assert_eq!(cursor_set(0, 0, true, Some(&s)).len(), 5 + 2 + 17 + 24);
    }

    #[test]
    fn cached_variants() {
        let s = shape();
        let b = cursor_set_with(
            0,
            0,
            true,
            &CursorRef::Alpha {
                shape: s,
                cache_me: true,
            },
        );
        let p = parse_cursor_set(&b).unwrap();
        assert_eq!(p.cursor.flags, CURSOR_FLAG_CACHE_ME);
        let b = cursor_set_with(0, 0, true, &CursorRef::FromCache(0xabcd));
        assert_eq!(b.len(), 5 + 2 + 17);
        let p = parse_cursor_set(&b).unwrap();
        assert_eq!(
            (p.cursor.flags, p.cursor.unique),
            (CURSOR_FLAG_FROM_CACHE, 0xabcd)
        );
        assert!(p.cursor.data.is_empty());
        let b = cursor_init_with(0, 0, 0, 0, false, &CursorRef::FromCache(1));
        assert_eq!(parse_cursor_init(&b).unwrap().cursor.unique, 1);
    }

    #[test]
    fn bad_alpha_length() {
        let s = shape();
        let mut b = cursor_set(0, 0, true, Some(&s));
        b.push(0);
        assert_eq!(
            parse_cursor_set(&b),
            Err(WireError::Invalid {
                what: "alpha cursor data length",
                value: 25
            })
        );
    }

    #[test]
    fn small_bodies() {
        assert_eq!(cursor_move(-2, 3), vec![0xfe, 0xff, 3, 0]);
        assert_eq!(parse_cursor_move(&cursor_move(-2, 3)), Ok((-2, 3)));
        for n in 0..4 {
            assert!(matches!(
                parse_cursor_move(&cursor_move(1, 1)[..n]),
                Err(WireError::Truncated { .. })
            ));
        }
        assert!(matches!(
            parse_cursor_move(&[0; 5]),
            Err(WireError::TrailingBytes { .. })
        ));
        assert!(cursor_hide().is_empty());
        assert!(cursor_reset().is_empty());
        assert!(cursor_inval_all().is_empty());
        assert_eq!(cursor_trail(1, 2), vec![1, 0, 2, 0]);
        assert_eq!(cursor_inval_one(5), 5u64.to_le_bytes().to_vec());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_cursor_move(&data);
            let _ = parse_cursor_set(&data);
            let _ = parse_cursor_init(&data);
        }

        #[test]
        fn alpha_round_trips(w in 0u16..6, h in 0u16..6, x in any::<i16>(), y in any::<i16>()) {
            let argb: Vec<u8> = (0..usize::from(w) * usize::from(h) * 4).map(|i| i as u8).collect();
            let s = CursorShape { unique: 1, width: w, height: h, hot_x: 0, hot_y: 0, argb: &argb };
            let body = cursor_set(x, y, true, Some(&s));
            let p = parse_cursor_set(&body).unwrap();
            prop_assert_eq!((p.x, p.y), (x, y));
            prop_assert_eq!(p.cursor.data, &argb[..]);
        }
    }
}
