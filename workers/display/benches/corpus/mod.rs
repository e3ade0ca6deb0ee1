//! A deterministic 1920x1080 B,G,R,X corpus of screen content, of the kinds
//! listed in shared/reference/codec-anchors.md (beside the repository): text, ui, photo,
//! mixed, scroll (30 frames), video (30 frames), plus frames of the vdi
//! crate's demo desktop. Everything is drawn by code; nothing is
//! downloaded. The same build gives the same pixels.

pub mod draw;
pub mod photo;

use draw::{mix, rgb, words, Canvas, Font, Rgb, Rng};

pub const W: u32 = 1920;
pub const H: u32 = 1080;

/// A class of content: its frames, in the order they are encoded.
pub struct Class {
    pub name: &'static str,
    pub frames: Vec<Canvas>,
}

impl Class {
    pub fn pixels(&self) -> u64 {
        self.frames
            .iter()
            .map(|f| u64::from(f.width) * u64::from(f.height))
            .sum()
    }
}

/// Every class, in report order.
pub fn all() -> Vec<Class> {
    vec![
        Class {
            name: "text",
            frames: vec![man_page(), colour_ls(), code_editor(), document()],
        },
        Class {
            name: "ui",
            frames: vec![x11_desktop(), file_manager(), wallpaper_windows()],
        },
        Class {
            name: "photo",
            frames: (1..=5).map(|s| photo::photo(W, H, s, 1.0)).collect(),
        },
        Class {
            name: "mixed",
            frames: vec![photo_terminals(), web_page()],
        },
        Class {
            name: "scroll",
            frames: scroll(),
        },
        Class {
            name: "video",
            frames: video(),
        },
        Class {
            name: "demo",
            frames: demo(),
        },
    ]
}

const XTERM_COLOURS: [Rgb; 8] = [
    0xCD0000, 0x00CD00, 0xCDCD00, 0x5C5CFF, 0xCD00CD, 0x00CDCD, 0xE5E5E5, 0x7F7F7F,
];

/// A man page, black on white, 8x16 cells (240x67).
fn man_page() -> Canvas {
    let mut c = Canvas::new(W, H, 0xFFFFFF);
    let f = Font::new(1, 2, 8, 16);
    let mut rng = Rng::new(1);
    let mut y = 0;
    c.text(
        0,
        y,
        &format!("{:<110}{:>20}{:>110}", "LS(1)", "User Commands", "LS(1)"),
        f,
        0,
        None,
    );
    y += 32;
    let sections = [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "AUTHOR",
        "SEE ALSO",
    ];
    let mut s = 0;
    while y < H as i32 - 32 {
        if rng.below(6) == 0 || y == 32 {
            c.text(0, y, sections[s % sections.len()], f.bold(), 0, None);
            s += 1;
            y += 16;
        }
        if rng.below(3) == 0 {
            let opt = format!(
                "-{}, --{}",
                (b'a' + rng.below(26) as u8) as char,
                rng.pick(draw::WORDS)
            );
            c.text(56, y, &opt, f.bold(), 0, None);
            y += 16;
        }
        for _ in 0..1 + rng.below(4) {
            let len = 60 + rng.below(100);
            c.text(112, y, &words(&mut rng, len, 0), f, 0, None);
            y += 16;
        }
        y += 16;
    }
    c.text(
        0,
        H as i32 - 16,
        " Manual page ls(1) line 1 (press h for help or q to quit)",
        f,
        0xFFFFFF,
        Some(0),
    );
    c
}

/// Coloured `ls -l` listings on black, 8x10 cells (240x108).
fn colour_ls() -> Canvas {
    let mut c = Canvas::new(W, H, 0);
    let f = Font::new(1, 1, 8, 10);
    let mut rng = Rng::new(2);
    let mut y = 0;
    let exts = [
        ("c", 0xE5E5E5),
        ("rs", 0xE5E5E5),
        ("tar.gz", 0xFF5555),
        ("sh", 0x55FF55),
        ("png", 0xFF55FF),
    ];
    while y < H as i32 - 10 {
        let x = c.text(0, y, "user@host", f.bold(), 0x55FF55, None);
        let x = c.text(x, y, ":", f, 0xE5E5E5, None);
        let x = c.text(x, y, "~/src/project", f.bold(), 0x5C5CFF, None);
        c.text(x, y, "$ ls -l --color=auto", f, 0xE5E5E5, None);
        y += 10;
        for _ in 0..5 + rng.below(25) {
            if y >= H as i32 - 10 {
                break;
            }
            let dir = rng.below(4) == 0;
            let (perm, size) = if dir {
                ("drwxr-xr-x", 4096)
            } else {
                ("-rw-r--r--", rng.below(900_000))
            };
            let line = format!(
                "{} {:>2} user user {:>8} {} {:>2} {:02}:{:02} ",
                perm,
                1 + rng.below(9),
                size,
                rng.pick(&["Jan", "Feb", "Mar", "Apr", "May", "Jun"]),
                1 + rng.below(28),
                rng.below(24),
                rng.below(60)
            );
            let x = c.text(0, y, &line, f, 0xE5E5E5, None);
            let stem = format!("{}_{}", rng.pick(draw::WORDS), rng.pick(draw::WORDS));
            if dir {
                c.text(x, y, &stem, f.bold(), 0x5C5CFF, None);
            } else {
                let (ext, col) = *rng.pick(&exts);
                c.text(x, y, &format!("{stem}.{ext}"), f, col, None);
            }
            y += 10;
        }
    }
    c
}

/// A dark-theme code editor, 16x19 cells, line numbers and highlighting.
fn code_editor() -> Canvas {
    let bg = rgb(30, 30, 30);
    let mut c = Canvas::new(W, H, bg);
    let f = Font::new(2, 2, 16, 19);
    let mut rng = Rng::new(3);
    c.rect(0, 0, 96, H as i32, rgb(37, 37, 38));
    let keywords = ["fn", "let", "if", "for", "match", "return", "pub", "impl"];
    let mut indent = 0usize;
    for (n, y) in (0..H as i32 - 19).step_by(19).enumerate() {
        c.text(0, y, &format!("{:>5}", n + 1), f, rgb(133, 133, 133), None);
        let mut x = 112 + indent as i32 * 64;
        x = c.text(
            x,
            y,
            rng.pick::<&str>(&keywords),
            f,
            rgb(86, 156, 214),
            None,
        ) + 16;
        x = c.text(
            x,
            y,
            &words(&mut rng, 4, 20).replace(' ', "_"),
            f,
            rgb(220, 220, 170),
            None,
        );
        if rng.below(3) == 0 {
            x = c.text(x, y, "(\"", f, rgb(212, 212, 212), None);
            x = c.text(x, y, &words(&mut rng, 6, 20), f, rgb(206, 145, 120), None);
            c.text(x, y, "\");", f, rgb(212, 212, 212), None);
        } else {
            c.text(x, y, " {", f, rgb(212, 212, 212), None);
        }
        indent = (indent + rng.below(3)).saturating_sub(1).min(5);
    }
    c.rect(0, H as i32 - 22, W as i32, 22, rgb(0, 122, 204));
    c.text(
        8,
        H as i32 - 20,
        "main.rs  Ln 12, Col 4  UTF-8  Rust",
        Font::new(1, 2, 8, 18),
        0xFFFFFF,
        None,
    );
    c
}

/// A document page on a grey desk: title, headings, paragraphs.
fn document() -> Canvas {
    let mut c = Canvas::new(W, H, rgb(128, 128, 128));
    c.rect(410, 20, 1100, 1060, 0xFFFFFF);
    c.rect(1510, 26, 6, 1054, rgb(96, 96, 96));
    let mut rng = Rng::new(4);
    c.text(
        500,
        60,
        "Quarterly Report",
        Font::new(4, 4, 32, 40).bold(),
        rgb(20, 20, 60),
        None,
    );
    let body = Font::new(1, 2, 8, 20);
    let mut y = 130;
    while y < 1040 {
        if rng.below(4) == 0 {
            c.text(
                500,
                y,
                &words(&mut rng, 20, 20),
                Font::new(2, 2, 16, 24).bold(),
                rgb(40, 40, 40),
                None,
            );
            y += 32;
        }
        for _ in 0..3 + rng.below(6) {
            c.text(
                500,
                y,
                &words(&mut rng, 110, 0),
                body,
                rgb(30, 30, 30),
                None,
            );
            y += 20;
        }
        y += 14;
    }
    c
}

fn window(c: &mut Canvas, x: i32, y: i32, w: i32, h: i32, title: &str, focused: bool) {
    c.rect(x + 6, y + 6, w, h, rgb(40, 40, 48));
    c.rect(x, y, w, h, rgb(236, 236, 236));
    c.frame(x, y, w, h, rgb(90, 90, 90));
    let bar = if focused {
        rgb(52, 101, 164)
    } else {
        rgb(170, 170, 176)
    };
    c.rect(x + 1, y + 1, w - 2, 24, bar);
    c.text(
        x + 10,
        y + 5,
        title,
        Font::new(1, 2, 8, 16).bold(),
        0xFFFFFF,
        None,
    );
    for (i, col) in [rgb(237, 106, 94), rgb(245, 191, 79), rgb(98, 197, 84)]
        .iter()
        .enumerate()
    {
        c.disc(x + w - 18 - 22 * i as i32, y + 13, 7, *col);
    }
}

fn button(c: &mut Canvas, x: i32, y: i32, w: i32, h: i32, label: &str) {
    c.rect(x, y, w, h, rgb(224, 224, 228));
    c.frame(x, y, w, h, rgb(140, 140, 150));
    let f = Font::new(1, 2, 8, 16);
    c.text(
        x + (w - 8 * label.len() as i32) / 2,
        y + (h - 16) / 2,
        label,
        f,
        rgb(20, 20, 20),
        None,
    );
}

/// A gradient desktop with classic X11 applications.
fn x11_desktop() -> Canvas {
    let mut c = Canvas::new(W, H, 0);
    c.vgradient(0, 0, W as i32, H as i32, rgb(40, 110, 140), rgb(16, 24, 64));
    let mut rng = Rng::new(5);
    // xterm
    window(&mut c, 80, 80, 660, 420, "xterm", true);
    let f = Font::new(1, 2, 8, 16);
    for i in 0..24 {
        c.text(86, 110 + i * 16, &words(&mut rng, 60, 20), f, 0, None);
    }
    // xcalc
    window(&mut c, 820, 120, 330, 460, "Calculator", false);
    c.rect(836, 156, 298, 50, rgb(200, 220, 200));
    c.text(1000, 170, "3.14159", Font::new(2, 2, 16, 20), 0, None);
    let keys = [
        "7", "8", "9", "/", "4", "5", "6", "*", "1", "2", "3", "-", "0", ".", "=", "+", "C", "AC",
        "sqrt", "x^2",
    ];
    for (i, k) in keys.iter().enumerate() {
        button(
            &mut c,
            836 + (i as i32 % 4) * 74,
            220 + (i as i32 / 4) * 70,
            66,
            60,
            k,
        );
    }
    // xclock
    window(&mut c, 1240, 90, 300, 320, "xclock", false);
    c.disc(1390, 260, 130, 0xFFFFFF);
    for m in 0..60 {
        let a = m as f32 * std::f32::consts::TAU / 60.0;
        let (r0, r1) = if m % 5 == 0 {
            (110.0, 126.0)
        } else {
            (120.0, 126.0)
        };
        c.line(
            1390 + (a.sin() * r0) as i32,
            260 - (a.cos() * r0) as i32,
            1390 + (a.sin() * r1) as i32,
            260 - (a.cos() * r1) as i32,
            0,
        );
    }
    c.line(1390, 260, 1450, 200, 0);
    c.line(1390, 260, 1390, 160, 0);
    // xload
    window(&mut c, 1240, 480, 560, 260, "xload", false);
    c.rect(1241, 506, 558, 233, 0xFFFFFF);
    for i in 0..270 {
        let v = (photo::value(i as f32 * 0.08, 0.5, 5) * 200.0) as i32;
        c.rect(1250 + i * 2, 735 - v, 2, v, 0);
    }
    // dialog with buttons
    window(&mut c, 200, 620, 700, 300, "Save changes?", false);
    c.text(
        230,
        690,
        "Save changes to document before closing?",
        Font::new(1, 2, 8, 16),
        0,
        None,
    );
    for (i, l) in ["Don't save", "Cancel", "Save"].iter().enumerate() {
        button(&mut c, 450 + i as i32 * 145, 850, 130, 40, l);
    }
    c
}

/// A flat file manager, full screen.
fn file_manager() -> Canvas {
    let mut c = Canvas::new(W, H, 0xFFFFFF);
    let mut rng = Rng::new(6);
    let f = Font::new(1, 2, 8, 16);
    c.rect(0, 0, W as i32, 48, rgb(242, 242, 242));
    c.rect(0, 48, W as i32, 1, rgb(210, 210, 210));
    for (i, l) in ["<", ">", "^", "Home", "Documents", "Projects"]
        .iter()
        .enumerate()
    {
        button(&mut c, 10 + i as i32 * 110, 8, 100, 32, l);
    }
    c.rect(0, 49, 260, H as i32 - 49, rgb(246, 246, 248));
    c.rect(260, 49, 1, H as i32 - 49, rgb(210, 210, 210));
    for (i, l) in [
        "Recent",
        "Home",
        "Desktop",
        "Documents",
        "Downloads",
        "Music",
        "Pictures",
        "Videos",
        "Trash",
        "Network",
    ]
    .iter()
    .enumerate()
    {
        let y = 70 + i as i32 * 36;
        if i == 3 {
            c.rect(0, y - 8, 260, 34, rgb(53, 132, 228));
        }
        c.rect(20, y, 16, 16, rgb(120, 120, 130));
        c.text(
            48,
            y,
            l,
            f,
            if i == 3 { 0xFFFFFF } else { rgb(40, 40, 40) },
            None,
        );
    }
    let icons = [
        rgb(240, 180, 60),
        rgb(90, 150, 220),
        rgb(220, 90, 80),
        rgb(120, 190, 110),
        rgb(160, 160, 170),
    ];
    for row in 0..6 {
        for col in 0..11 {
            let (x, y) = (300 + col * 145, 80 + row * 160);
            let ic = *rng.pick(&icons);
            c.rect(x + 30, y + 10, 80, 64, ic);
            c.rect(x + 30, y + 4, 36, 8, mix(ic, 0, 0.2));
            c.rect(x + 38, y + 24, 64, 2, mix(ic, 0xFFFFFF, 0.4));
            let name = words(&mut rng, 6, 10);
            c.text(
                x + 70 - 4 * name.len() as i32,
                y + 90,
                &name,
                f,
                rgb(40, 40, 40),
                None,
            );
        }
    }
    c.rect(261, H as i32 - 28, W as i32, 28, rgb(242, 242, 242));
    c.text(
        270,
        H as i32 - 22,
        "66 items, 12.4 GB free",
        f,
        rgb(80, 80, 80),
        None,
    );
    c
}

/// A photo wallpaper with flat windows and a taskbar.
fn wallpaper_windows() -> Canvas {
    let mut c = photo::photo(W, H, 7, 1.0);
    let f = Font::new(1, 2, 8, 16);
    let mut rng = Rng::new(7);
    window(&mut c, 120, 100, 900, 700, "Text Editor", true);
    c.rect(121, 126, 898, 673, 0xFFFFFF);
    for i in 0..40 {
        c.text(
            130,
            134 + i * 16,
            &words(&mut rng, 40, 60),
            f,
            rgb(30, 30, 30),
            None,
        );
    }
    window(&mut c, 1100, 200, 600, 480, "Settings", false);
    for i in 0..8 {
        let y = 250 + i * 50;
        c.text(
            1120,
            y + 8,
            &words(&mut rng, 20, 0),
            f,
            rgb(40, 40, 40),
            None,
        );
        let on = rng.below(2) == 0;
        c.rect(
            1600,
            y + 4,
            60,
            26,
            if on {
                rgb(53, 132, 228)
            } else {
                rgb(200, 200, 200)
            },
        );
        c.disc(if on { 1646 } else { 1614 }, y + 17, 11, 0xFFFFFF);
    }
    c.rect(0, H as i32 - 40, W as i32, 40, rgb(30, 30, 36));
    for i in 0..8 {
        c.rect(
            60 + i * 56,
            H as i32 - 34,
            40,
            28,
            mix(rgb(53, 132, 228), rgb(220, 90, 80), i as f32 / 8.0),
        );
    }
    c.text(W as i32 - 100, H as i32 - 28, "14:32", f, 0xFFFFFF, None);
    c
}

fn terminal_panel(c: &mut Canvas, x: i32, y: i32, w: i32, h: i32, rng: &mut Rng) {
    window(c, x, y, w, h, "Terminal", true);
    c.rect(x + 1, y + 26, w - 2, h - 27, rgb(24, 24, 28));
    let f = Font::new(1, 2, 8, 16);
    let cols = ((w - 12) / 8) as usize;
    let mut ty = y + 30;
    while ty < y + h - 16 {
        let col = if rng.below(5) == 0 {
            *rng.pick(&XTERM_COLOURS)
        } else {
            0xE5E5E5
        };
        c.text(x + 6, ty, &words(rng, cols / 2, cols / 2), f, col, None);
        ty += 16;
    }
}

/// A photo desktop with two terminals and a top panel.
fn photo_terminals() -> Canvas {
    let mut c = photo::photo(W, H, 9, 1.0);
    let mut rng = Rng::new(8);
    c.rect(0, 0, W as i32, 28, rgb(20, 20, 20));
    c.text(
        W as i32 / 2 - 40,
        6,
        "Tue 14:32",
        Font::new(1, 2, 8, 16).bold(),
        0xFFFFFF,
        None,
    );
    terminal_panel(&mut c, 100, 90, 820, 560, &mut rng);
    terminal_panel(&mut c, 1000, 400, 760, 600, &mut rng);
    c
}

/// A web-page-like text column beside photo thumbnails.
fn web_page() -> Canvas {
    let mut c = Canvas::new(W, H, 0xFFFFFF);
    let mut rng = Rng::new(9);
    c.rect(0, 0, W as i32, 80, rgb(36, 41, 47));
    c.text(
        40,
        24,
        "The Daily Procedural",
        Font::new(4, 4, 32, 32).bold(),
        0xFFFFFF,
        None,
    );
    let body = Font::new(1, 2, 8, 20);
    let mut y = 110;
    while y < H as i32 - 30 {
        c.text(
            60,
            y,
            &words(&mut rng, 40, 0),
            Font::new(2, 3, 16, 30).bold(),
            rgb(20, 20, 20),
            None,
        );
        y += 40;
        for _ in 0..4 + rng.below(5) {
            let line = words(&mut rng, 125, 0);
            let x = c.text(60, y, &line[..100], body, rgb(50, 50, 50), None);
            c.text(x, y, &line[100..], body, rgb(26, 13, 171), None);
            c.rect(x, y + 18, 8 * 25, 1, rgb(26, 13, 171));
            y += 20;
        }
        y += 20;
    }
    for i in 0..6 {
        let thumb = photo::photo(400, 240, 10 + i as u32, 0.25);
        let (x, y) = (1140 + (i % 2) * 380, 110 + (i / 2) * 300);
        c.blit(&thumb, x, y);
        let mut crop = Canvas::new(360, 20, 0xFFFFFF);
        crop.text(
            0,
            2,
            &words(&mut rng, 40, 0),
            Font::new(1, 2, 8, 16),
            rgb(90, 90, 90),
            None,
        );
        c.blit(&crop, x, y + 248);
    }
    c
}

/// 30 frames of a terminal printing 3 new lines a frame: 16x19 cells,
/// 57 px of upward motion per frame.
fn scroll() -> Vec<Canvas> {
    let f = Font::new(2, 2, 16, 19);
    let rows = (H / 19) as usize;
    let mut rng = Rng::new(10);
    let lines: Vec<(String, Rgb)> = (0..rows + 3 * 30)
        .map(|i| {
            let col = if rng.below(4) == 0 {
                *rng.pick(&XTERM_COLOURS)
            } else {
                0xE5E5E5
            };
            let text = format!(
                "[{:>8}.{:06}] {}",
                1000 + i * 3,
                rng.below(1_000_000),
                words(&mut rng, 20, 80)
            );
            (text, col)
        })
        .collect();
    (0..30)
        .map(|frame| {
            let mut c = Canvas::new(W, H, 0);
            for (r, (text, col)) in lines[frame * 3..frame * 3 + rows].iter().enumerate() {
                c.text(0, r as i32 * 19, text, f, *col, None);
            }
            c
        })
        .collect()
}

/// 30 frames of a slow zoom and pan over a photograph; the sampling
/// positions move by fractions of a pixel, so no pixel repeats exactly.
fn video() -> Vec<Canvas> {
    let src = photo::photo(2112, 1188, 11, 1.1);
    (0..30)
        .map(|t| {
            let t = t as f32;
            let step = 1.06 - 0.0038 * t;
            let (cx, cy) = (1040.0 + 2.5 * t, 590.0 + 1.2 * t);
            let mut f = photo::resample(&src, W, H, cx - 960.0 * step, cy - 540.0 * step, step);
            photo::add_grain(&mut f, 1000 + t as u64, 1.0);
            f
        })
        .collect()
}

/// Ten animation steps of the vdi demo desktop at 1920x1080.
fn demo() -> Vec<Canvas> {
    let opts = spicebox_vdi::DemoOptions {
        width: W,
        height: H,
        ..Default::default()
    };
    let mut desktop = spicebox_vdi::DemoDesktop::new(&opts).expect("demo desktop");
    (0..10)
        .map(|_| {
            let c = Canvas {
                width: W,
                height: H,
                data: desktop.frame().to_vec(),
            };
            desktop.advance();
            c
        })
        .collect()
}
