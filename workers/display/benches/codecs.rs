//! Image-codec benchmark: encode throughput (MPix/s, reported by criterion
//! as Melem/s) and output size (bits per pixel, printed once per codec and
//! class as a `BPP` line) of QUIC, LZ, GLZ, LZ4, JPEG and ZLIB_GLZ on a
//! generated 1920x1080
//! corpus (see `corpus/mod.rs`) of the kinds used by
//! shared/reference/codec-anchors.md (beside the repository).
//!
//! One iteration encodes every frame of a class in order. GLZ starts each
//! iteration with a fresh dictionary (8M-pixel window) kept across the
//! frames of the class, as a client session would.
//!
//! LZ4 is measured through the crate's own `lz4_stream`, the stream the
//! display worker sends.
//!
//! JPEG is lossy (quality 85, 4:2:0, as the display worker sends it); a
//! `PSNR` line per class gives what the bits buy. ZLIB_GLZ is GLZ then
//! zlib level 3: its time includes the GLZ pass, and each frame counts the
//! bytes the worker would send (the deflated stream where it is smaller,
//! else the GLZ one).
//!
//! `cargo bench -p spicebox-display --bench codecs` (bench/codecs.sh adds a
//! comparison table). Env: `CODECS_MEASURE_MS` (default 1000) per benchmark;
//! `CODECS_DUMP=dir` writes the first frame of each class there as PPM.

mod corpus;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use spicebox_display::codec::{glz::GlzEncoder, jpeg, lz, quic, zlib, Pixels};

use corpus::draw::Canvas;

/// The GLZ dictionary window, in pixels.
const GLZ_WINDOW: u32 = 8 * 1024 * 1024;

#[derive(Clone, Copy)]
enum Codec {
    Quic,
    Lz,
    Glz,
    Lz4,
    Jpeg,
    ZlibGlz,
}

impl Codec {
    const ALL: [Codec; 6] = [
        Codec::Quic,
        Codec::Lz,
        Codec::Glz,
        Codec::Lz4,
        Codec::Jpeg,
        Codec::ZlibGlz,
    ];

    fn name(self) -> &'static str {
        match self {
            Codec::Quic => "quic",
            Codec::Lz => "lz",
            Codec::Glz => "glz",
            Codec::Lz4 => "lz4",
            Codec::Jpeg => "jpeg",
            Codec::ZlibGlz => "zlib_glz",
        }
    }
}

/// Encodes every frame in order; returns the total output bytes.
fn encode_all(codec: Codec, frames: &[Canvas]) -> usize {
    let mut glz = matches!(codec, Codec::Glz | Codec::ZlibGlz).then(|| GlzEncoder::new(GLZ_WINDOW));
    let mut total = 0;
    for f in frames {
        let img = Pixels {
            width: f.width,
            height: f.height,
            data: &f.data,
            alpha: false,
        };
        let out = match codec {
            Codec::Quic => quic::encode(&img).expect("quic"),
            Codec::Lz => lz::encode(&img).expect("lz"),
            Codec::Glz => glz
                .as_mut()
                .map(|g| g.encode(&img))
                .expect("glz")
                .expect("glz"),
            Codec::Lz4 => spicebox_display::lz4_stream(&f.data, f.width, false),
            Codec::Jpeg => jpeg::encode(&img, jpeg::DEFAULT_QUALITY).expect("jpeg"),
            Codec::ZlibGlz => {
                let stream = glz
                    .as_mut()
                    .map(|g| g.encode(&img))
                    .expect("glz")
                    .expect("glz");
                match zlib::wrap(&stream).expect("zlib") {
                    Some(wrapped) => wrapped.data,
                    None => stream,
                }
            }
        };
        total += black_box(out).len();
    }
    total
}

/// PSNR in dB over the colour bytes of every frame of a class, JPEG-coded
/// and decoded again.
fn jpeg_psnr(frames: &[Canvas]) -> f64 {
    let (mut sum, mut n) = (0f64, 0u64);
    for f in frames {
        let img = Pixels {
            width: f.width,
            height: f.height,
            data: &f.data,
            alpha: false,
        };
        let stream = jpeg::encode(&img, jpeg::DEFAULT_QUALITY).expect("jpeg");
        let rgb = jpeg_decoder::Decoder::new(&stream[..])
            .decode()
            .expect("decode");
        for (src, out) in f.data.chunks_exact(4).zip(rgb.chunks_exact(3)) {
            for (a, b) in [(src[2], out[0]), (src[1], out[1]), (src[0], out[2])] {
                let d = f64::from(a) - f64::from(b);
                sum += d * d;
                n += 1;
            }
        }
    }
    let mse = sum / n.max(1) as f64;
    10.0 * (255.0 * 255.0 / mse.max(1e-12)).log10()
}

fn codecs(c: &mut Criterion) {
    let measure = std::env::var("CODECS_MEASURE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let classes = corpus::all();
    if let Ok(dir) = std::env::var("CODECS_DUMP") {
        for class in &classes {
            let f = &class.frames[0];
            let mut ppm = format!("P6 {} {} 255\n", f.width, f.height).into_bytes();
            ppm.extend(f.data.chunks_exact(4).flat_map(|p| [p[2], p[1], p[0]]));
            std::fs::write(format!("{dir}/{}.ppm", class.name), ppm).expect("dump");
        }
    }
    for codec in Codec::ALL {
        let mut group = c.benchmark_group(codec.name());
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(measure));
        for class in &classes {
            let pixels = class.pixels();
            let bytes = encode_all(codec, &class.frames);
            println!(
                "BPP codec={} class={} frames={} pixels={} bytes={} bpp={:.4}",
                codec.name(),
                class.name,
                class.frames.len(),
                pixels,
                bytes,
                bytes as f64 * 8.0 / pixels as f64
            );
            if matches!(codec, Codec::Jpeg) {
                println!(
                    "PSNR codec=jpeg class={} db={:.2}",
                    class.name,
                    jpeg_psnr(&class.frames)
                );
            }
            group.throughput(Throughput::Elements(pixels));
            group.bench_function(class.name, |b| {
                b.iter(|| encode_all(codec, black_box(&class.frames)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, codecs);
criterion_main!(benches);
