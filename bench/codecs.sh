#!/usr/bin/env bash
# Image-codec benchmark: runs the criterion bench
# workers/display/benches/codecs.rs (QUIC, LZ, GLZ, LZ4 on a generated
# 1920x1080 corpus: text, ui, photo, mixed, scroll, video, demo) and prints
# a table codec x class of bits per pixel and encode MPix/s next to the
# reference C figures, with the ratios ours/reference (speed: >1 is faster;
# size: <1 is smaller).
#
# Usage: bench/codecs.sh     (env: CODECS_MEASURE_MS=1000 per benchmark,
#                             PIN_CPU=1 to pin to that core with taskset)
# Takes about 3-4 minutes on 2 cores (corpus generation included).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
log=$(mktemp /tmp/spicebox-codecs.XXXXXX)
export CRITERION_HOME=${CRITERION_HOME:-$(mktemp -d /tmp/spicebox-criterion.XXXXXX)}

cargo bench -p spicebox-display --bench codecs --no-run
run=(cargo bench -p spicebox-display --bench codecs -- --noplot)
if [[ -n ${PIN_CPU:-} ]]; then
    run=(taskset -c "$PIN_CPU" "${run[@]}")
fi
"${run[@]}" 2>&1 | tee "$log"

# Reference figures: shared/reference/codec-anchors.md (beside the repository) ("Image codec
# anchors", 2-vCPU Xeon, one core pinned). They were measured on another
# corpus of the same kinds, so the ratios below are orientation only: a
# same-run comparison needs the reference encoders built beside the
# repository and fed the frames this bench dumps (CODECS_DUMP=dir).
# Reference C QUIC and LZ
# (spice-common), GLZ (spice-server, dictionary kept across frames, 8M-pixel
# window), LZ4 (liblz4). Format: codec class bpp MPix/s. No reference exists
# for the demo class.
REFERENCE="
quic text 2.11 412
quic ui 3.09 178
quic photo 8.52 56
quic mixed 7.19 94
quic scroll 3.11 337
quic video 10.28 58
lz text 0.529 599
lz ui 5.70 234
lz photo 21.7 78
lz mixed 10.74 147
lz scroll 0.662 533
lz video 21.5 93
glz text 0.503 575
glz ui 5.54 141
glz photo 19.9 38
glz mixed 10.0 81
glz scroll 0.197 777
glz video 20.0 24
lz4 text 0.986 1116
lz4 ui 5.96 327
lz4 photo 24.7 120
lz4 mixed 13.1 236
lz4 scroll 1.14 1023
lz4 video 25.4 132
"

python3 - "$log" "$CRITERION_HOME" "$REFERENCE" <<'EOF'
import json, os, re, sys

log, home, reference = sys.argv[1], sys.argv[2], sys.argv[3]
ref = {}
for line in reference.split("\n"):
    if line.strip():
        codec, cls, bpp, speed = line.split()
        ref[(codec, cls)] = (float(bpp), float(speed))

bpp, pixels, order = {}, {}, []
for line in open(log):
    m = re.match(r"BPP codec=(\S+) class=(\S+) frames=\d+ pixels=(\d+) bytes=\d+ bpp=(\S+)", line)
    if m:
        key = (m[1], m[2])
        bpp[key], pixels[key] = float(m[4]), int(m[3])
        order.append(key)

def speed(codec, cls):
    # Median time per iteration (one pass over the class), in ns.
    path = os.path.join(home, codec, cls, "new", "estimates.json")
    with open(path) as f:
        ns = json.load(f)["median"]["point_estimate"]
    return pixels[(codec, cls)] / ns * 1e3

def fmt(v, digits=3):
    return "-" if v is None else f"{v:.{digits}g}" if v < 10 else f"{v:.1f}"

print()
print("Encode of whole 1920x1080 frames; MPix/s = criterion median; ratio = ours / reference C")
print("(reference: shared/reference/codec-anchors.md (beside the repository), measured on another corpus of the")
print("same kinds: orientation only). speed ratio >1 = faster, size ratio <1 = smaller.")
print()
print(f"| {'codec':5} | {'class':6} | {'bpp':>7} | {'ref bpp':>7} | {'size x':>6} | {'MPix/s':>7} | {'ref MPix/s':>10} | {'speed x':>7} |")
print(f"|{'-'*7}|{'-'*8}|{'-'*9}|{'-'*9}|{'-'*8}|{'-'*9}|{'-'*12}|{'-'*9}|")
for codec, cls in order:
    b, s = bpp[(codec, cls)], speed(codec, cls)
    rb, rs = ref.get((codec, cls), (None, None))
    size_x = None if rb is None else b / rb
    speed_x = None if rs is None else s / rs
    print(f"| {codec:5} | {cls:6} | {b:7.3f} | {fmt(rb):>7} | {fmt(size_x):>6} | {s:7.1f} | {fmt(rs):>10} | {fmt(speed_x):>7} |")
EOF
rm -f "$log"
