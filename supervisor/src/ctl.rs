//! `spicebox ctl`: a client of the control socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{bail, Context};

use crate::cli::{CtlArgs, CtlRequest, Setting};
use crate::control::{DumpHeader, Request};

/// Largest picture the client accepts from a server (4096x4096x4).
const MAX_DUMP_BYTES: usize = 4096 * 4096 * 4;

/// Runs one ctl request.
pub fn run(args: CtlArgs) -> anyhow::Result<()> {
    let stream = UnixStream::connect(&args.socket)
        .with_context(|| format!("cannot connect to {}", args.socket.display()))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    match args.request {
        CtlRequest::Status => {
            let (value, _) = request(stream, &Request::Status)?;
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        CtlRequest::RestartWorker { role } => {
            let (value, _) = request(stream, &Request::RestartWorker { role })?;
            println!("{value}");
        }
        CtlRequest::Set {
            setting: Setting::ImageCompression { mode },
        } => {
            let (value, _) = request(stream, &Request::SetImageCompression { mode })?;
            println!("{value}");
        }
        CtlRequest::InjectFault { role } => {
            let (value, _) = request(stream, &Request::InjectFault { role })?;
            println!("{value}");
        }
        CtlRequest::Screendump { file, display } => {
            let (value, mut reader) = request(stream, &Request::Screendump { display })?;
            if let Some(error) = value.get("error") {
                anyhow::bail!("screendump refused: {error}");
            }
            let header: DumpHeader = serde_json::from_value(value).context("bad answer")?;
            let expected = (header.width as usize)
                .checked_mul(header.height as usize)
                .and_then(|p| p.checked_mul(4))
                .filter(|n| *n == header.bytes && *n <= MAX_DUMP_BYTES)
                .context("picture size does not match its header")?;
            let mut pixels = vec![0u8; expected];
            reader.read_exact(&mut pixels)?;
            write_picture(&file, header.width, header.height, &pixels)?;
        }
    }
    Ok(())
}

/// Sends one request and reads its JSON answer line; the reader is handed
/// back for answers that carry bytes after the line.
fn request(
    mut stream: UnixStream,
    req: &Request,
) -> anyhow::Result<(serde_json::Value, BufReader<UnixStream>)> {
    let mut text = serde_json::to_string(req)?;
    text.push('\n');
    stream.write_all(text.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let value: serde_json::Value = serde_json::from_str(&line).context("bad answer")?;
    if let Some(err) = value.get("error") {
        bail!("server refused: {err}");
    }
    Ok((value, reader))
}

/// Writes B,G,R,X pixels as PNG (by extension) or binary PPM.
fn write_picture(file: &Path, width: u32, height: u32, bgrx: &[u8]) -> anyhow::Result<()> {
    let rgb: Vec<u8> = bgrx
        .chunks_exact(4)
        .flat_map(|p| [p[2], p[1], p[0]])
        .collect();
    let is_png = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    let out =
        std::fs::File::create(file).with_context(|| format!("cannot create {}", file.display()))?;
    let mut out = std::io::BufWriter::new(out);
    if is_png {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header()?;
        w.write_image_data(&rgb)?;
        w.finish()?;
    } else {
        write!(out, "P6\n{width} {height}\n255\n")?;
        out.write_all(&rgb)?;
    }
    out.flush()?;
    Ok(())
}
