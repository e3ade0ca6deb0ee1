//! Image-codec benchmark: encode throughput (MPix/s, reported by criterion
//! as Melem/s) and output size (bits per pixel, printed once per codec and
//! class as a `BPP` line) of QUIC, LZ, GLZ and LZ4 on a generated 1920x1080
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
//! `cargo bench -p spicebox-display --bench codecs` (bench/codecs.sh adds a
//! comparison table). Env: `CODECS_MEASURE_MS` (default 1000) per benchmark;
//! `CODECS_DUMP=dir` writes the first frame of each class there as PPM.

mod corpus;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use spicebox_display::codec::{glz::GlzEncoder, lz, quic, Pixels};

use corpus::draw::Canvas;

/// The GLZ dictionary window, in pixels.
const GLZ_WINDOW: u32 = 8 * 1024 * 1024;

#[derive(Clone, Copy)]
enum Codec {
    Quic,
    Lz,
    Glz,
    Lz4,
}

impl Codec {
    const ALL: [Codec; 4] = [Codec::Quic, Codec::Lz, Codec::Glz, Codec::Lz4];

    fn name(self) -> &'static str {
        match self {
            Codec::Quic => "quic",
            Codec::Lz => "lz",
            Codec::Glz => "glz",
            Codec::Lz4 => "lz4",
        }
    }
}

/// Encodes every frame in order; returns the total output bytes.
fn encode_all(codec: Codec, frames: &[Canvas]) -> usize {
    let mut glz = matches!(codec, Codec::Glz).then(|| GlzEncoder::new(GLZ_WINDOW));
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
            Codec::Lz4 => spicebox_display::lz4_stream(&f.data, f.width),
        };
        total += black_box(out).len();
    }
    total
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
