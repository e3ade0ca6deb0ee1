#!/usr/bin/env python3
"""X11 workload and measurement for bench/x11_vs_xspice.sh.

Subcommands:
  prepare DIR WxH    photo-like pictures and video sources (ImageMagick
                     `convert`, fixed seeds) as raw BGRA files in DIR
  size :N            the screen size of an X display (WxH)
  feed [--rate N]    the scrolling terminal's output: N deterministic lines a
                     second (run inside xterm)
  run ...            plays the phases on one X display while one SPICE server
                     serves it and one client is connected; samples the bytes
                     the server sent (`ss -tin`, bytes_acked of every TCP
                     connection from the SPICE port) and the CPU and memory of
                     the server's processes (/proc) 4 times a second; writes
                     one JSON file
  table A.json B.json ...   the markdown tables of several runs side by side

The pictures and the video are drawn by a minimal X11 protocol client written
here (a Unix socket, core requests and BIG-REQUESTS: CreateWindow, PutImage,
…), so no Xlib binding is needed: one PutImage per picture or video frame, as
a player would draw it; the terminal is a real xterm.

Phases, each PHASE_S seconds, every one leaving a black screen at its end
(its windows are destroyed 1 s before the phase ends, inside the phase):
  idle       nothing changes
  terminal   xterm (120x50, top left) printing 100 lines a second
  picture    a full-screen photo-like picture, another at half the phase
  video      a 640x360 window in the middle, a new frame 25 times a second
             (a pan over a photo-like picture, a scene cut every 4 s)
  idle2      nothing changes
"""

import argparse
import json
import math
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

PHASES = ("idle", "terminal", "picture", "video", "idle2")
VIDEO_W, VIDEO_H, VIDEO_FPS = 640, 360, 25
# The video pans over a source this much larger than the window.
PAN_X, PAN_Y = 320, 180
TERM_COLS, TERM_ROWS, TERM_RATE = 120, 50, 100
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------
# A minimal X11 protocol client (little-endian, no authentication).

class XError(Exception):
    pass


class XConn:
    def __init__(self, display):
        m = re.fullmatch(r":(\d+)(?:\.\d+)?", display)
        if not m:
            raise XError(f"only local displays (:N) are supported, not {display!r}")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(f"/tmp/.X11-unix/X{m.group(1)}")
        self.sock.sendall(struct.pack("<BxHHHHxx", 0x6C, 11, 0, 0, 0))
        head = self._recv(8)
        status, _, major, minor, extra = struct.unpack("<BBHHH", head)
        body = self._recv(extra * 4)
        if status != 1:
            reason = body[: head[1]].decode(errors="replace")
            raise XError(f"X server refused the connection: {reason}")
        (_, self.id_base, self.id_mask, _, vendor_len, self.max_req, nscreens, nformats,
         self.image_order) = struct.unpack_from("<IIIIHHBBB", body, 0)
        if self.image_order != 0:
            raise XError("only LSBFirst image byte order is supported")
        off = 32 + (vendor_len + 3) // 4 * 4
        bpp24 = None
        for i in range(nformats):
            depth, bpp, _ = struct.unpack_from("<BBB", body, off + 8 * i)
            if depth == 24:
                bpp24 = bpp
        off += 8 * nformats
        (self.root, _, _, self.black, _, self.width, self.height, _, _, _, _, _, _, _,
         self.depth, _) = struct.unpack_from("<IIIIIHHHHHHIBBBB", body, off)
        if self.depth != 24 or bpp24 != 32:
            raise XError(f"needs a 24-bit root window stored as 32 bpp (depth {self.depth}, bpp {bpp24})")
        self.next_id = 1
        self.seq = 0
        # BIG-REQUESTS: one PutImage per picture or video frame, as a player
        # using MIT-SHM would draw it, instead of strips of at most 256 kB.
        self.big = False
        name = b"BIG-REQUESTS"
        self._send(struct.pack("<BxHHxx", 98, 2 + (len(name) + 3) // 4, len(name))
                   + name + b"\0" * (-len(name) % 4))
        r = self._reply()
        if r[8]:
            self._send(struct.pack("<BBH", r[9], 0, 1))
            self.max_req = struct.unpack_from("<I", self._reply(), 8)[0]
            self.big = True

    def _recv(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise XError("the X server closed the connection")
            buf += chunk
        return bytes(buf)

    def _send(self, data):
        self.sock.sendall(data)
        self.seq += 1

    def new_id(self):
        rid = self.id_base | (self.next_id & self.id_mask)
        self.next_id += 1
        return rid

    def window(self, x, y, w, h):
        """A black override-redirect window, mapped."""
        wid = self.new_id()
        # background-pixel (bit 1), override-redirect (bit 9)
        self._send(struct.pack("<BBHIIhhHHHHIIII", 1, 0, 10, wid, self.root, x, y, w, h, 0, 1, 0,
                               0x202, self.black, 1))
        self._send(struct.pack("<BxHI", 8, 2, wid))  # MapWindow
        return wid

    def gc(self, drawable):
        gid = self.new_id()
        # graphics-exposures (bit 16) off
        self._send(struct.pack("<BxHIIII", 55, 5, gid, drawable, 0x10000, 0))
        return gid

    def put_image(self, drawable, gc, x, y, w, h, data, stride=None):
        """ZPixmap PutImage of w x h BGRX pixels, in as many strips as the
        maximum request length needs."""
        stride = stride or w * 4
        head = 28 if self.big else 24
        rows = max(1, (self.max_req * 4 - head) // (w * 4))
        for top in range(0, h, rows):
            n = min(rows, h - top)
            if stride == w * 4:
                part = data[top * stride:(top + n) * stride]
            else:
                part = b"".join(data[(top + r) * stride:(top + r) * stride + w * 4] for r in range(n))
            rest = struct.pack("<IIHHhhBBxx", drawable, gc, w, n, x, y + top, 0, 24)
            if self.big:
                start = struct.pack("<BBHI", 72, 2, 0, 7 + len(part) // 4)
            else:
                start = struct.pack("<BBH", 72, 2, 6 + len(part) // 4)
            self._send(start + rest + part)

    def destroy(self, wid):
        self._send(struct.pack("<BxHI", 4, 2, wid))

    def _reply(self):
        """The reply to the last request sent; raises on an X error."""
        want = self.seq & 0xFFFF
        while True:
            msg = self._recv(32)
            kind = msg[0] & 0x7F
            if kind == 0:
                raise XError(f"X error {msg[1]} (request {msg[10]}, sequence {struct.unpack_from('<H', msg, 2)[0]})")
            if kind == 1:
                extra = struct.unpack_from("<I", msg, 4)[0]
                if extra:
                    msg += self._recv(extra * 4)
                if struct.unpack_from("<H", msg, 2)[0] == want:
                    return msg

    def sync(self):
        """GetInputFocus round trip: returns once the server has handled
        everything sent before; raises on an X error."""
        self._send(struct.pack("<BxH", 43, 1))
        self._reply()

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------------------
# prepare

def convert(args):
    subprocess.run(["convert", *args], check=True, stdout=subprocess.DEVNULL)


def cmd_prepare(a):
    w, h = (int(v) for v in a.size.split("x"))
    os.makedirs(a.dir, exist_ok=True)
    jobs = [
        (f"{w}x{h}", 11, "picture1"),
        (f"{w}x{h}", 23, "picture2"),
        (f"{VIDEO_W + PAN_X}x{VIDEO_H + PAN_Y}", 37, "video1"),
        (f"{VIDEO_W + PAN_X}x{VIDEO_H + PAN_Y}", 41, "video2"),
    ]
    procs = []
    for size, seed, name in jobs:
        out = os.path.join(a.dir, name + ".bgra")
        if os.path.exists(out):
            continue
        # plasma:fractal with a fixed seed: a noisy, photo-like picture
        procs.append(subprocess.Popen(["convert", "-size", size, "-seed", str(seed), "plasma:fractal",
                                       "-blur", "0x0.6", "-depth", "8", "bgra:" + out + ".tmp"]))
    for p in procs:
        if p.wait() != 0:
            sys.exit("convert failed")
    for _, _, name in jobs:
        out = os.path.join(a.dir, name + ".bgra")
        if os.path.exists(out + ".tmp"):
            os.replace(out + ".tmp", out)


# ---------------------------------------------------------------------------
# feed: the terminal's output

WORDS = ("spice", "display", "channel", "surface", "cursor", "inputs", "worker", "frame",
         "damage", "region", "encode", "glz", "lz4", "quic", "client", "server", "ping",
         "ack", "pixmap", "cache", "palette", "stream", "copy", "bits", "fill", "-", "ok")


def cmd_feed(a):
    seed = 12345
    n = 0
    per_tick = max(1, a.rate // 25)
    tick = per_tick / a.rate
    next_t = time.monotonic()
    out = sys.stdout

    def done(*_):
        if a.count_file:
            with open(a.count_file, "w") as f:
                f.write(f"{n}\n")
        os._exit(0)

    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, done)
    while True:
        lines = []
        for _ in range(per_tick):
            n += 1
            parts = [f"{n:08d}"]
            width = 9
            while True:
                seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
                word = WORDS[(seed >> 8) % len(WORDS)]
                if width + len(word) + 1 > TERM_COLS - 8 - (seed >> 20) % 40:
                    break
                parts.append(word)
                width += len(word) + 1
            lines.append(" ".join(parts))
        out.write("\n".join(lines) + "\n")
        out.flush()
        next_t += tick
        pause = next_t - time.monotonic()
        if pause > 0:
            time.sleep(pause)


# ---------------------------------------------------------------------------
# run: phases and sampling

def children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(name))
    return kids


def tree(roots, kids):
    out, todo = [], list(roots)
    while todo:
        p = todo.pop()
        if p not in out:
            out.append(p)
            todo.extend(kids.get(p, []))
    return out


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_name(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
        name = os.path.basename(args[0].decode(errors="replace"))
        if name == "spicebox" and len(args) > 2:
            name += " " + " ".join(x.decode(errors="replace") for x in args[1:3])
        return name
    except OSError:
        return "?"


class Sampler:
    """Keeps the last-seen value of every counter so that a process or a
    connection that goes away keeps what it had."""

    def __init__(self, port, groups):
        self.port = port
        self.groups = groups  # name -> list of root pids (descendants included)
        self.lock = threading.Lock()
        self.conn_bytes = {}  # (local, peer) -> bytes_acked
        self.ticks = {g: {} for g in groups}  # group -> pid -> ticks
        self.rss_peak = {g: 0 for g in groups}  # peak of the summed VmRSS
        self.hwm = {g: {} for g in groups}  # group -> pid -> VmHWM
        self.names = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self):
        r = subprocess.run(["ss", "-tinH", "state", "established", f"( sport = :{self.port} )"],
                           capture_output=True, text=True, timeout=10)
        conns = {}
        key = None
        for line in r.stdout.splitlines():
            if not line.startswith((" ", "\t")):
                f = line.split()
                key = (f[-2], f[-1]) if len(f) >= 2 else None
            elif key:
                m = re.search(r"\bbytes_acked:(\d+)", line)
                conns[key] = int(m.group(1)) if m else 0
        kids = children_map()
        with self.lock:
            for k, v in conns.items():
                self.conn_bytes[k] = max(v, self.conn_bytes.get(k, 0))
            for g, roots in self.groups.items():
                rss = 0
                for pid in tree(roots, kids):
                    try:
                        t = cpu_ticks(pid)
                        rss += status_kb(pid, "VmRSS")
                        self.hwm[g][pid] = max(status_kb(pid, "VmHWM"), self.hwm[g].get(pid, 0))
                    except OSError:
                        continue
                    self.ticks[g][pid] = t
                    if pid not in self.names:
                        self.names[pid] = proc_name(pid)
                self.rss_peak[g] = max(self.rss_peak[g], rss)

    def _loop(self):
        while not self.stop.wait(0.25):
            self.sample()

    def snapshot(self):
        self.sample()
        with self.lock:
            return {
                "t": time.monotonic(),
                "bytes": sum(self.conn_bytes.values()),
                "connections": len(self.conn_bytes),
                "cpu_s": {g: sum(d.values()) / CLK_TCK for g, d in self.ticks.items()},
            }


def stop_proc(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def phase_terminal(display, seconds, info, tmp):
    env = dict(os.environ, DISPLAY=display)
    env.pop("WAYLAND_DISPLAY", None)
    count = os.path.join(tmp, f"lines-{os.getpid()}")
    xterm = subprocess.Popen(
        ["xterm", "-geometry", f"{TERM_COLS}x{TERM_ROWS}+0+0", "-fn", "fixed", "+sb",
         "-e", sys.executable, os.path.abspath(__file__), "feed", "--rate", str(TERM_RATE),
         "--count-file", count],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(max(0.0, seconds - 1.0))
        if xterm.poll() is not None:
            raise XError(f"xterm exited early ({xterm.returncode})")
    finally:
        stop_proc(xterm)
    for _ in range(20):
        if os.path.exists(count):
            with open(count) as f:
                info["lines"] = int(f.read().strip() or 0)
            os.unlink(count)
            break
        time.sleep(0.05)


def load(assets, name):
    with open(os.path.join(assets, name + ".bgra"), "rb") as f:
        return f.read()


def phase_picture(display, seconds, info, assets):
    start = time.monotonic()
    pics = [load(assets, "picture1"), load(assets, "picture2")]
    x = XConn(display)
    try:
        w, h = x.width, x.height
        for p in pics:
            if len(p) != w * h * 4:
                raise XError(f"the pictures are not {w}x{h}: prepare them for this screen size")
        win = x.window(0, 0, w, h)
        gc = x.gc(win)
        x.put_image(win, gc, 0, 0, w, h, pics[0])
        x.sync()
        time.sleep(max(0.0, start + seconds / 2 - time.monotonic()))
        x.put_image(win, gc, 0, 0, w, h, pics[1])
        x.sync()
        time.sleep(max(0.0, start + seconds - 1.0 - time.monotonic()))
        x.destroy(win)
        x.sync()
        info["pictures"] = 2
    finally:
        x.close()


def phase_video(display, seconds, info, assets):
    start = time.monotonic()
    srcs = [load(assets, "video1"), load(assets, "video2")]
    sw = VIDEO_W + PAN_X
    x = XConn(display)
    shown = late = 0
    try:
        wx, wy = (x.width - VIDEO_W) // 2, (x.height - VIDEO_H) // 2
        win = x.window(wx, wy, VIDEO_W, VIDEO_H)
        gc = x.gc(win)
        x.sync()
        end = start + seconds - 1.0
        period = 1.0 / VIDEO_FPS
        t0 = time.monotonic()
        frame = 0
        while True:
            due = t0 + frame * period
            now = time.monotonic()
            if due >= end:
                break
            if due > now:
                time.sleep(due - now)
            elif now - due > period:
                # a player drops frames it is too late for
                skip = int((now - due) / period)
                frame += skip
                late += skip
                continue
            ts = frame * period
            src = srcs[int(ts // 4) % 2]
            # a smooth pan (a Lissajous path) over the source
            ox = int((PAN_X / 2) * (1 + math.sin(ts * 1.3)))
            oy = int((PAN_Y / 2) * (1 + math.sin(ts * 0.9 + 1.0)))
            off = (oy * sw + ox) * 4
            x.put_image(win, gc, 0, 0, VIDEO_W, VIDEO_H, memoryview(src)[off:], stride=sw * 4)
            x.sync()
            shown += 1
            frame += 1
        x.destroy(win)
        x.sync()
        info["frames_shown"] = shown
        info["frames_dropped"] = late
    finally:
        x.close()


def cmd_run(a):
    groups = {}
    for spec in a.measure:
        name, _, pids = spec.partition("=")
        groups[name] = [int(p) for p in pids.split(",") if p]
    sampler = Sampler(a.port, groups)
    sampler.sample()
    sampler.thread.start()

    # Connected: at least one connection, then wait until the server has
    # sent nothing for 1.5 s (the first picture and the link test are done),
    # at most a.settle_max seconds.
    t_start = time.monotonic()
    last, last_change = -1, time.monotonic()
    while True:
        s = sampler.snapshot()
        if s["bytes"] != last:
            last, last_change = s["bytes"], time.monotonic()
        if s["connections"] and time.monotonic() - last_change >= 1.5:
            break
        if time.monotonic() - t_start > a.settle_max:
            if not s["connections"]:
                sys.exit(f"no client connection on port {a.port} after {a.settle_max} s")
            break
        time.sleep(0.25)
    rows = [{"phase": "start + connect", "bytes": s["bytes"], "cpu_s": s["cpu_s"],
             "seconds": None, "info": {"connections": s["connections"]}}]
    prev = s
    for phase in a.phases.split(","):
        info = {}
        t0 = time.monotonic()
        if phase in ("idle", "idle2"):
            pass
        elif phase == "terminal":
            phase_terminal(a.display, a.phase_seconds, info, os.path.dirname(os.path.abspath(a.out)))
        elif phase == "picture":
            phase_picture(a.display, a.phase_seconds, info, a.assets)
        elif phase == "video":
            phase_video(a.display, a.phase_seconds, info, a.assets)
        else:
            sys.exit(f"unknown phase {phase}")
        time.sleep(max(0.0, t0 + a.phase_seconds - time.monotonic()))
        s = sampler.snapshot()
        rows.append({"phase": phase, "seconds": round(s["t"] - prev["t"], 2),
                     "bytes": s["bytes"] - prev["bytes"],
                     "cpu_s": {g: s["cpu_s"][g] - prev["cpu_s"][g] for g in groups},
                     "info": info})
        print(f"  {phase:>8}: {rows[-1]['bytes'] / 1e6:8.2f} MB, "
              + ", ".join(f"{g} {v:.2f} s CPU" for g, v in rows[-1]["cpu_s"].items())
              + (f"  {info}" if info else ""), flush=True)
        prev = s
    sampler.stop.set()
    sampler.thread.join()
    kids = children_map()
    memory = {}
    for g, roots in groups.items():
        live = tree(roots, kids)
        memory[g] = {
            "hwm_sum_kb": sum(sampler.hwm[g].values()),
            "rss_peak_kb": sampler.rss_peak[g],
            "pss_end_kb": sum(pss_kb(p) for p in live),
            "processes": {f"{p} {sampler.names.get(p, '?')}": kb for p, kb in sampler.hwm[g].items()},
        }
    result = {"label": a.label, "port": a.port, "display": a.display,
              "phase_seconds": a.phase_seconds, "groups": list(groups), "rows": rows,
              "memory": memory, "total_bytes": sampler.snapshot()["bytes"]}
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)


# ---------------------------------------------------------------------------
# table

def cmd_table(a):
    runs = []
    for path in a.files:
        with open(path) as f:
            runs.append(json.load(f))
    # Columns: per run, MB sent and CPU seconds of every measured group, and
    # where a run has two groups (server + its X server), their sum.
    head = ["phase"]
    for r in runs:
        head.append(f"{r['label']} MB sent")
        for g in r["groups"]:
            head.append(f"{g} CPU s")
        if len(r["groups"]) > 1:
            head.append(" + ".join(r["groups"]) + " CPU s")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    phases = [row["phase"] for row in runs[0]["rows"]]
    total = {}
    for i, ph in enumerate(phases + ["total (phases)"]):
        cells = [ph]
        for ri, r in enumerate(runs):
            if ph == "total (phases)":
                rows = r["rows"][1:]
                b = sum(x["bytes"] for x in rows)
                cpu = {g: sum(x["cpu_s"][g] for x in rows) for g in r["groups"]}
            else:
                b, cpu = r["rows"][i]["bytes"], r["rows"][i]["cpu_s"]
            cells.append(f"{b / 1e6:.2f}")
            for g in r["groups"]:
                cells.append(f"{cpu[g]:.2f}")
            if len(r["groups"]) > 1:
                cells.append(f"{sum(cpu.values()):.2f}")
        print("| " + " | ".join(cells) + " |")
    print()
    print("| peak memory | " + " | ".join(
        g if g == r["label"] else f"{r['label']}: {g}" for r in runs for g in r["groups"]) + " |")
    print("|---|" + "---|" * sum(len(r["groups"]) for r in runs))
    for key, title in (("hwm_sum_kb", "VmHWM (sum over the processes)"),
                       ("rss_peak_kb", "peak of the summed VmRSS (sampled 4/s)"),
                       ("pss_end_kb", "Pss at the end")):
        cells = [title]
        for r in runs:
            for g in r["groups"]:
                cells.append(f"{r['memory'][g][key] / 1024:.1f} MiB")
        print("| " + " | ".join(cells) + " |")
    print()
    for r in runs:
        extra = {row["phase"]: row["info"] for row in r["rows"] if row["info"]}
        print(f"{r['label']}: " + "; ".join(f"{k} {v}" for k, v in extra.items()))
        for g in r["groups"]:
            procs = ", ".join(f"{k} {v / 1024:.1f} MiB" for k, v in r["memory"][g]["processes"].items())
            print(f"  {g} processes (VmHWM): {procs}")


def cmd_size(a):
    x = XConn(a.display)
    print(f"{x.width}x{x.height}")
    x.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("dir")
    p.add_argument("size")
    p = sub.add_parser("size")
    p.add_argument("display")
    p = sub.add_parser("feed")
    p.add_argument("--rate", type=int, default=TERM_RATE)
    p.add_argument("--count-file", help="where to write how many lines were printed, at exit")
    p = sub.add_parser("run")
    p.add_argument("--display", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--measure", action="append", required=True,
                   help="NAME=PID[,PID…]: processes (and their descendants) summed as NAME")
    p.add_argument("--assets", required=True)
    p.add_argument("--phase-seconds", type=float, default=10.0)
    p.add_argument("--phases", default=",".join(PHASES))
    p.add_argument("--settle-max", type=float, default=30.0)
    p.add_argument("--label", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("table")
    p.add_argument("files", nargs="+")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    {"prepare": cmd_prepare, "size": cmd_size, "feed": cmd_feed, "run": cmd_run, "table": cmd_table}[a.cmd](a)


if __name__ == "__main__":
    main()
