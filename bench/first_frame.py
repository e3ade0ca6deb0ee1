#!/usr/bin/env python3
"""First-frame benchmark: time from TCP connect to a complete first frame at
spicy-screenshot, and the bytes of the display channel's first full frame,
for plain bitmaps versus LZ4; plus the CPU each spicebox process uses while
the demo animates with one client (spicy under Xvfb) connected.

The reference in the same run is QEMU's libspice-server (qemu-system-x86_64
-spice, SeaBIOS at 720x400), measured with the same client the same way, so
the figures can be reported as ratios.

Usage: bench/first_frame.py [--runs N] [--bin target/release/spicebox]
Everything listens on 127.0.0.1 only; every process started is stopped by PID.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, limit=20.0):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def screenshot_times(port, runs, out):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(["spicy-screenshot", "-h", "127.0.0.1", "-p", str(port), "-o", out],
                           capture_output=True, timeout=60)
        t1 = time.perf_counter()
        if r.returncode != 0:
            raise RuntimeError(f"spicy-screenshot failed: {r.stderr.decode(errors='replace')}")
        times.append(t1 - t0)
    return times


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def ctl(binary, sock, *args):
    r = subprocess.run([binary, "ctl", "--socket", sock, *args], capture_output=True, timeout=30, check=True)
    return r.stdout.decode()


def spicebox_run(binary, compression, size, runs, tmp):
    port = free_port()
    sock = os.path.join(tmp, f"ctl-{compression}.sock")
    proc = subprocess.Popen([binary, "--port", str(port), "--disable-ticketing", "--demo-freeze",
                             "--image-compression", compression, "--demo-size", size, "--control", sock],
                            stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        time.sleep(0.5)
        return screenshot_times(port, runs, os.path.join(tmp, "b.ppm"))
    finally:
        stop(proc)


def first_frame_bytes(binary, compression, size, tmp):
    """Bytes the display channel sent to one client whose first frame is done,
    read from `ctl status` while a spicy client stays connected."""
    port = free_port()
    sock = os.path.join(tmp, f"ctlb-{compression}.sock")
    proc = subprocess.Popen([binary, "--port", str(port), "--disable-ticketing", "--demo-freeze",
                             "--image-compression", compression, "--demo-size", size, "--control", sock],
                            stderr=subprocess.DEVNULL)
    viewer = None
    xvfb = None
    try:
        wait_port(port)
        display = ":97"
        xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1920x1200x24"], stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        env = dict(os.environ, DISPLAY=display)
        viewer = subprocess.Popen(["spicy", "-h", "127.0.0.1", "-p", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            st = json.loads(ctl(binary, sock, "status"))
            for s in st["sessions"]:
                for c in s["channels"]:
                    if c["type"] == "display" and c["messages_sent"] >= 5:
                        time.sleep(1.0)
                        st = json.loads(ctl(binary, sock, "status"))
                        for s2 in st["sessions"]:
                            for c2 in s2["channels"]:
                                if c2["type"] == "display":
                                    return c2["bytes_sent"]
            time.sleep(0.2)
        raise RuntimeError("display channel never came up")
    finally:
        for p in (viewer, xvfb):
            if p is not None:
                stop(p)
        stop(proc)


def animate_cpu(binary, seconds, tmp):
    port = free_port()
    sock = os.path.join(tmp, "ctl-cpu.sock")
    proc = subprocess.Popen([binary, "--port", str(port), "--disable-ticketing", "--control", sock],
                            stderr=subprocess.DEVNULL)
    viewer = xvfb = None
    try:
        wait_port(port)
        display = ":98"
        xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1920x1200x24"], stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        viewer = subprocess.Popen(["spicy", "-h", "127.0.0.1", "-p", str(port)],
                                  env=dict(os.environ, DISPLAY=display),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3.0)
        st = json.loads(ctl(binary, sock, "status"))
        pids = {"supervisor": st["supervisor_pid"], "host": st["host"]["pid"]}
        for w in st["workers"]:
            pids[w["role"]] = w["pid"]
        pids["client (spicy)"] = viewer.pid
        before = {k: cpu_seconds(p) for k, p in pids.items()}
        time.sleep(seconds)
        after = {k: cpu_seconds(p) for k, p in pids.items()}
        st = json.loads(ctl(binary, sock, "status"))
        sent = sum(c["bytes_sent"] for s in st["sessions"] for c in s["channels"])
        return {k: (after[k] - before[k]) / seconds for k in pids}, sent
    finally:
        for p in (viewer, xvfb):
            if p is not None:
                stop(p)
        stop(proc)


def qemu_reference(runs, tmp):
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        return None
    port = free_port()
    proc = subprocess.Popen([qemu, "-accel", "tcg", "-m", "128", "-nodefaults", "-vga", "std",
                             "-display", "none", "-spice", f"port={port},addr=127.0.0.1,disable-ticketing=on"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        time.sleep(2.0)
        return screenshot_times(port, runs, os.path.join(tmp, "q.ppm"))
    finally:
        stop(proc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "spicebox"))
    ap.add_argument("--cpu-seconds", type=float, default=10.0)
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        sys.exit(f"build first: cargo build --release (no {args.bin})")
    with tempfile.TemporaryDirectory() as tmp:
        ref = qemu_reference(args.runs, tmp)
        ref_med = statistics.median(ref) if ref else None
        print(f"reference: QEMU libspice 720x400, spicy-screenshot median "
              + (f"{ref_med*1000:.0f} ms" if ref_med else "n/a (qemu-system-x86 not installed)"))
        for size in ("720x400", "1280x800"):
            for comp in ("off", "lz4"):
                times = spicebox_run(args.bin, comp, size, args.runs, tmp)
                med = statistics.median(times)
                nbytes = first_frame_bytes(args.bin, comp, size, tmp)
                ratio = f", {med/ref_med:.2f}x reference" if ref_med else ""
                print(f"spicebox {size} {comp:>4}: spicy-screenshot median {med*1000:.0f} ms{ratio}; "
                      f"display channel bytes for the first frame {nbytes}")
        cpu, sent = animate_cpu(args.bin, args.cpu_seconds, tmp)
        print(f"animating demo 1280x800, one spicy client, {args.cpu_seconds:.0f} s "
              f"(bytes sent in all: {sent}):")
        for k, v in cpu.items():
            print(f"  {k:>16}: {v*100:.1f}% of one core")


if __name__ == "__main__":
    main()
