//! Renders demo desktop frames and reports what each step costs.
//!
//! `cargo run --release -p spicebox-vdi --example demo_frames -- [WIDTHxHEIGHT] [FRAMES] [out.ppm]`
//! prints the mean and worst time of `DemoDesktop::advance`, the damaged
//! area per frame, and optionally writes the last frame as a PPM picture.

use std::time::{Duration, Instant};

use spicebox_vdi::{DemoDesktop, DemoOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (width, height) = match args.next() {
        Some(size) => {
            let (w, h) = size.split_once('x').ok_or("size must look like 1280x800")?;
            (w.parse()?, h.parse()?)
        }
        None => (1280, 800),
    };
    let frames: u32 = args.next().map(|f| f.parse()).transpose()?.unwrap_or(300);
    let out = args.next();

    let start = Instant::now();
    let mut desktop = DemoDesktop::new(&DemoOptions {
        width,
        height,
        ..DemoOptions::default()
    })?;
    println!("initial picture: {:?}", start.elapsed());

    let (mut total, mut worst, mut pixels) = (Duration::ZERO, Duration::ZERO, 0u64);
    for _ in 0..frames {
        let t = Instant::now();
        let damage = desktop.advance();
        let spent = t.elapsed();
        total += spent;
        worst = worst.max(spent);
        pixels += damage
            .iter()
            .map(|r| u64::from(r.width) * u64::from(r.height))
            .sum::<u64>();
    }
    let frames_nonzero = frames.max(1);
    println!(
        "advance: mean {:?}, worst {:?}; damage {:.1}% of the screen per frame",
        total / frames_nonzero,
        worst,
        pixels as f64 * 100.0 / (f64::from(frames_nonzero) * f64::from(width) * f64::from(height))
    );

    if let Some(path) = out {
        let mut ppm = format!("P6 {width} {height} 255\n").into_bytes();
        for px in desktop.frame().chunks_exact(4) {
            ppm.extend_from_slice(&[px[2], px[1], px[0]]);
        }
        std::fs::write(&path, ppm)?;
        println!("wrote {path}");
    }
    Ok(())
}
