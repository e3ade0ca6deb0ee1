//! The demo desktop: pure rendering and input state, no I/O. The picture is
//! a function of the seed, the frame number and the input applied.

use spicebox_ipc::InputEvent;
use spicebox_shm::Rect;

use crate::damage::DamageList;
use crate::draw::canvas::{Canvas, BPP};
use crate::draw::geom::intersect;
use crate::draw::sprite::Sprite;
use crate::error::VdiError;
use crate::options::DemoOptions;
use crate::scene::base;
use crate::scene::keymap::Keyboard;
use crate::scene::layout::Layout;
use crate::scene::pointer::{arrow_sprite, Pointer, CURSOR_SIZE, HOT_SPOT};
use crate::scene::status::{ButtonEvent, Status, StatusInfo};
use crate::scene::terminal::Terminal;
use crate::scene::video::Video;
use crate::scene::window::Window;

/// A cursor image: width, height, hot spot x, hot spot y, B,G,R,A pixels.
pub type CursorShape = (u16, u16, u16, u16, Vec<u8>);

/// The demo picture and everything that animates or reacts in it.
pub struct DemoDesktop {
    layout: Layout,
    frozen: bool,
    frame_number: u64,
    /// The static picture every repaint starts from.
    base: Vec<u8>,
    frame: Vec<u8>,
    terminal: Terminal,
    video: Video,
    window: Window,
    status: Status,
    keyboard: Keyboard,
    pointer: Pointer,
    last_button: Option<ButtonEvent>,
    cursor: Sprite,
}

impl DemoDesktop {
    /// Builds the initial picture.
    pub fn new(opts: &DemoOptions) -> Result<DemoDesktop, VdiError> {
        opts.validate()?;
        let layout = Layout::new(opts.width, opts.height);
        let terminal = Terminal::new(&layout, opts.seed);
        let pointer = Pointer::new(opts.width, opts.height);
        let keyboard = Keyboard::default();
        let info = StatusInfo {
            pointer: pointer.position(),
            button: None,
            leds: keyboard.leds(),
        };
        let status = Status::new(&layout, &info);
        let base = base::build(&layout, opts.seed, &terminal, &status);
        let mut desktop = DemoDesktop {
            video: Video::new(layout.video, layout.scale, opts.fps, opts.seed),
            window: Window::new(
                layout.playground,
                layout.scale,
                opts.seed,
                (opts.width, opts.height),
            ),
            layout,
            frozen: opts.freeze,
            frame_number: 0,
            frame: base.clone(),
            base,
            terminal,
            status,
            keyboard,
            pointer,
            last_button: None,
            cursor: arrow_sprite(),
        };
        desktop.paint(&desktop.layout.screen());
        Ok(desktop)
    }

    /// Screen width.
    pub fn width(&self) -> u32 {
        self.layout.width
    }

    /// Screen height.
    pub fn height(&self) -> u32 {
        self.layout.height
    }

    /// The picture: B,G,R,X rows of `width * 4` bytes, X = 0.
    pub fn frame(&self) -> &[u8] {
        &self.frame
    }

    /// Animation steps taken so far.
    pub fn frame_number(&self) -> u64 {
        self.frame_number
    }

    /// One animation step; returns the rectangles that changed. Frozen
    /// desktops never change here.
    pub fn advance(&mut self) -> Vec<Rect> {
        if self.frozen {
            return Vec::new();
        }
        self.frame_number += 1;
        let mut damage = vec![self.window.step(), self.video.area()];
        self.terminal.tick(&mut damage);
        self.repaint(damage)
    }

    /// Applies one input event; returns the rectangles that changed.
    pub fn apply_input(&mut self, event: &InputEvent) -> Vec<Rect> {
        let mut damage = Vec::new();
        match *event {
            InputEvent::Key { code, pressed } => {
                if let Some(action) = self.keyboard.key(code, pressed) {
                    self.terminal.key(action, &mut damage);
                }
            }
            InputEvent::PointerMotion { dx, dy } => self.pointer.move_by(dx, dy),
            // There is one monitor; positions on others do not apply.
            InputEvent::PointerPosition { x, y, display: 0 } => self.pointer.move_to(x, y),
            InputEvent::PointerPosition { .. } => {}
            InputEvent::Button { button, pressed } => {
                self.last_button = Some(ButtonEvent { button, pressed });
            }
            InputEvent::LockState { modifiers } => self.keyboard.set_leds(modifiers),
        }
        let info = self.status_info();
        damage.extend(self.status.update(&info));
        self.repaint(damage)
    }

    /// Pointer position (the cursor's hot spot).
    pub fn cursor(&self) -> (i32, i32) {
        self.pointer.position()
    }

    /// The arrow cursor image, straight (not premultiplied) alpha.
    pub fn cursor_shape(&self) -> CursorShape {
        // Both are small constants (24 and 1), far below u16::MAX.
        let side = CURSOR_SIZE as u16;
        (
            side,
            side,
            HOT_SPOT.0 as u16,
            HOT_SPOT.1 as u16,
            self.cursor.to_bgra(),
        )
    }

    /// Lock LEDs (SPICE modifier flags: scroll 1, num 2, caps 4).
    pub fn leds(&self) -> u16 {
        self.keyboard.leds()
    }

    /// What has been typed on the terminal's input line.
    pub fn input_line(&self) -> &str {
        self.terminal.input()
    }

    /// The terminal's log lines on screen, top first.
    pub fn terminal_lines(&self) -> Vec<&str> {
        self.terminal.lines().collect()
    }

    /// The status bar text.
    pub fn status_line(&self) -> &str {
        self.status.text()
    }

    fn status_info(&self) -> StatusInfo {
        StatusInfo {
            pointer: self.pointer.position(),
            button: self.last_button,
            leds: self.keyboard.leds(),
        }
    }

    /// Merges, clips and paints the damage, returning what was painted.
    fn repaint(&mut self, damage: Vec<Rect>) -> Vec<Rect> {
        let screen = self.layout.screen();
        let mut list = DamageList::new();
        for r in damage.iter().filter_map(|r| intersect(r, &screen)) {
            list.add(r);
        }
        let rects = list.take();
        for r in &rects {
            self.paint(r);
        }
        rects
    }

    /// Redraws `r` from the base and every dynamic layer, bottom up.
    fn paint(&mut self, r: &Rect) {
        let stride = self.layout.width as usize * BPP;
        let row_bytes = r.width as usize * BPP;
        for y in r.y..r.y + r.height {
            let start = y as usize * stride + r.x as usize * BPP;
            let range = start..start + row_bytes;
            if let (Some(dst), Some(src)) =
                (self.frame.get_mut(range.clone()), self.base.get(range))
            {
                dst.copy_from_slice(src);
            }
        }
        let mut canvas = Canvas::new(&mut self.frame, self.layout.width, self.layout.height);
        self.terminal.paint(&mut canvas, r);
        self.video.paint(&mut canvas, r, self.frame_number);
        self.window.paint(&mut canvas, r);
        self.status.paint(&mut canvas, r);
    }
}
