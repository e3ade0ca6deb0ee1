#!/usr/bin/env bash
# The same X11 workload served by Xspice (Debian xserver-xspice: Xorg with
# the spiceqxl driver, libspice-server inside the Xorg process) and by
# spicebox --source x11 in front of an Xvfb of the same size and depth, with
# one real client connected to each for the whole run; reported side by side.
#
# Phases (bench/x11_workload.py, PHASE_S seconds each, the same program
# against both X displays, one server at a time):
#   idle, terminal (xterm printing 100 lines/s), picture (a full-screen
#   photo-like picture, another at half the phase), video (a 640x360 window,
#   25 new frames a second), idle2
# Per phase:
#   - MB sent: server->client bytes on the SPICE port, the sum over every TCP
#     connection from that port of `ss -tin` bytes_acked (sampled 4 times a
#     second; the delta over the phase). The "start + connect" row is
#     everything up to the first phase (CPU since the server started): the
#     first picture, and the ~256 kB PING link test both libspice and
#     spicebox run at connect, so the phases do not include it.
#   - CPU s: utime+stime from /proc/PID/stat, delta over the phase.
#     Xspice: its Xorg process (the X server and the SPICE server in one).
#     spicebox: the supervisor and every child (host, workers) summed; its
#     Xvfb apart, and spicebox + Xvfb (what compares with Xspice's Xorg).
# Peak memory: VmHWM from /proc/PID/status (summed over the processes), the
# peak of the summed VmRSS, and Pss at the end.
#
# Usage: bench/x11_vs_xspice.sh
#   env: PHASE_S=10         seconds per phase
#        SIZE=1280x800      screen size of both X servers (depth 24)
#        CLIENT=spicy       spicy (spice-gtk 0.42, under its own Xvfb), or
#                           hold (the Rust example hold_session)
#        SPICEBOX_ARGS=""   more spicebox flags (e.g. "--image-compression auto_glz")
#        XSPICE_ARGS=""     more Xspice flags (e.g. "--image-compression lz")
#        KEEP_DIR=DIR       keep the per-run JSON files and logs in DIR
# Installs nothing: prints the apt-get line for what is missing. Builds the
# release binary first. Everything listens on 127.0.0.1 only; every process
# it starts is stopped by PID on exit. About 2.5 minutes with PHASE_S=10.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
PHASE_S=${PHASE_S:-10}
SIZE=${SIZE:-1280x800}
CLIENT=${CLIENT:-spicy}
SPICEBOX_ARGS=${SPICEBOX_ARGS:-}
XSPICE_ARGS=${XSPICE_ARGS:-}
TARGET=${CARGO_TARGET_DIR:-target}
WORKLOAD=bench/x11_workload.py
t_begin=$(date +%s)

[[ $SIZE =~ ^[0-9]+x[0-9]+$ ]] || { echo "SIZE must be WxH, not $SIZE" >&2; exit 2; }
[[ $CLIENT == spicy || $CLIENT == hold ]] || { echo "CLIENT must be spicy or hold" >&2; exit 2; }

# --- what is needed -----------------------------------------------------------
missing=()
need() { # PROGRAM PACKAGE
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}
need Xspice xserver-xspice
need Xvfb xvfb
need xterm xterm
need convert imagemagick
need ss iproute2
need python3 python3
[[ $CLIENT == spicy ]] && need spicy spice-client-gtk
# xterm's "fixed" font
[[ -e /usr/share/fonts/X11/misc/fonts.dir ]] || missing+=(xfonts-base)
if ((${#missing[@]})); then
    echo "missing: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi

cargo build --release -p spicebox-supervisor --bin spicebox
BIN=$TARGET/release/spicebox
if [[ $CLIENT == hold ]]; then
    cargo build --release -p spicebox-tests --example hold_session
    HOLD=$TARGET/release/examples/hold_session
fi

dir=$(mktemp -d /tmp/spicebox-x11-bench.XXXXXX)
pids=()      # started by this script, stopped in reverse order
runner=""

stop_all() {
    local i
    stop_pid "$runner"
    runner=""
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        stop_pid "${pids[i]}"
    done
    pids=()
}
cleanup() {
    stop_all
    if [[ -n ${KEEP_DIR:-} ]]; then
        mkdir -p "$KEEP_DIR" && cp -r "$dir"/. "$KEEP_DIR"/ && echo "kept in $KEEP_DIR"
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_display() { # first N >= 50 without an X lock file or socket
    local n=50
    while [[ -e /tmp/.X$n-lock || -e /tmp/.X11-unix/X$n ]]; do n=$((n + 1)); done
    echo "$n"
}

start_xvfb() { # NAME SCREEN: starts Xvfb; sets xvfb_pid and xvfb_display
    local name=$1 screen=$2 i
    : >"$dir/$name.num"
    Xvfb -displayfd 5 -screen 0 "${screen}x24" -nolisten tcp -br \
        5>"$dir/$name.num" >"$dir/$name.log" 2>&1 </dev/null &
    pids+=("$!")
    xvfb_pid=$!
    for i in $(seq 200); do
        [[ $(wc -l <"$dir/$name.num") -ge 1 ]] && break
        if ! kill -0 "$xvfb_pid" 2>/dev/null || [[ $i == 200 ]]; then
            echo "Xvfb ($name) did not start; its log:" >&2
            tail -n 20 "$dir/$name.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    xvfb_display=":$(head -n 1 "$dir/$name.num")"
}

start_client() { # NAME PORT: a client connected for the whole run
    local name=$1 port=$2
    if [[ $CLIENT == hold ]]; then
        "$HOLD" --port "$port" --seconds $((PHASE_S * 5 + 90)) \
            >"$dir/$name.client.out" 2>"$dir/$name.client.log" </dev/null &
        pids+=("$!")
        client_pid=$!
        return
    fi
    local w=${SIZE%x*} h=${SIZE#*x}
    start_xvfb "$name.client-xvfb" "$((w + 200))x$((h + 200))"
    mkdir -p "$dir/config/spicy"
    printf '[general]\nscaling=false\nresize-guest=false\n[ui]\ntoolbar=false\nstatusbar=false\n' \
        >"$dir/config/spicy/settings"
    env -u WAYLAND_DISPLAY DISPLAY="$xvfb_display" XDG_CONFIG_HOME="$dir/config" \
        GDK_BACKEND=x11 NO_AT_BRIDGE=1 \
        spicy -h 127.0.0.1 -p "$port" --spice-disable-audio --spice-disable-usbredir \
        >"$dir/$name.client.log" 2>&1 </dev/null &
    pids+=("$!")
    client_pid=$!
}

check_size() { # DISPLAY
    local got
    got=$(python3 "$WORKLOAD" size "$1")
    [[ $got == "$SIZE" ]] || { echo "display $1 is $got, not $SIZE" >&2; exit 1; }
}

run_workload() { # LABEL DISPLAY PORT --measure ...
    local label=$1 display=$2 port=$3
    shift 3
    echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min), $(nproc) CPUs"
    python3 "$WORKLOAD" run --label "$label" --display "$display" --port "$port" \
        --assets "$dir/assets" --phase-seconds "$PHASE_S" --out "$dir/$label.json" "$@" &
    runner=$!
    local status=0
    wait "$runner" || status=$?
    runner=""
    if [[ $status != 0 ]]; then
        echo "the workload failed against $label (exit $status)" >&2
        echo "client log:" >&2
        tail -n 20 "$dir/$label.client.log" >&2 || true
        exit 1
    fi
    if ! kill -0 "$client_pid" 2>/dev/null; then
        echo "the client of $label exited during the run:" >&2
        tail -n 20 "$dir/$label.client.log" >&2
        exit 1
    fi
}

echo "preparing the pictures and video frames ($SIZE)..."
python3 "$WORKLOAD" prepare "$dir/assets" "$SIZE"

# --- Xspice ---------------------------------------------------------------------
w=${SIZE%x*}
h=${SIZE#*x}
cat >"$dir/xspice.conf" <<EOF
Section "Device"
    Identifier "XSPICE"
    Driver "spiceqxl"
EndSection
Section "InputDevice"
    Identifier "XSPICE POINTER"
    Driver     "xspice pointer"
EndSection
Section "InputDevice"
    Identifier "XSPICE KEYBOARD"
    Driver     "xspice keyboard"
EndSection
Section "Monitor"
    Identifier "Configured Monitor"
EndSection
Section "Screen"
    Identifier   "XSPICE Screen"
    Monitor      "Configured Monitor"
    Device       "XSPICE"
    DefaultDepth 24
    SubSection "Display"
        Depth 24
        Modes "${w}x${h}"
    EndSubSection
EndSection
Section "ServerLayout"
    Identifier "XSPICE Example"
    Screen "XSPICE Screen"
    InputDevice "XSPICE KEYBOARD"
    InputDevice "XSPICE POINTER"
EndSection
Section "ServerFlags"
    Option "AutoAddDevices" "False"
EndSection
EOF
xport=$(free_port)
xnum=$(free_display)
# test-peers.md: without these QXL sizes Xspice crashes at start on Debian 12;
# XSPICE_ADDR binds it to loopback (it has no address flag).
# shellcheck disable=SC2086
env QXL_FRAME_BUFFER_SIZE=16 QXL_SURFACE_BUFFER_SIZE=128 QXL_COMMAND_BUFFER_SIZE=128 \
    QXL_ENABLE_IMAGE_CACHE=1 QXL_ENABLE_FALLBACK_CACHE=1 QXL_ENABLE_SURFACES=1 QXL_NUM_HEADS=1 \
    XSPICE_ADDR=127.0.0.1 \
    Xspice --config "$dir/xspice.conf" --port "$xport" --disable-ticketing $XSPICE_ARGS \
    -logfile "$dir/xorg.log" -nolisten tcp -br ":$xnum" \
    >"$dir/Xspice.log" 2>&1 </dev/null &
pids+=("$!")
wrapper=$!
# SIGTERM to the wrapper hangs it: its Xorg child is stopped first (it comes
# later in pids, so it is stopped first).
xorg=""
for i in $(seq 100); do
    xorg=$(ps -o pid= --ppid "$wrapper" 2>/dev/null | head -n 1 | tr -d ' ') || true
    [[ -n $xorg ]] && break
    kill -0 "$wrapper" 2>/dev/null || break
    sleep 0.1
done
[[ -n $xorg ]] || { echo "Xspice started no Xorg; its log:" >&2; tail -n 30 "$dir/Xspice.log" >&2; exit 1; }
pids+=("$xorg")
wait_listening "$xport" "$xorg" "$dir/Xspice.log"
for i in $(seq 100); do [[ -S /tmp/.X11-unix/X$xnum ]] && break; sleep 0.1; done
check_size ":$xnum"
echo
echo "Xspice $(dpkg-query -W -f '${Version}' xserver-xspice 2>/dev/null), libspice-server" \
    "$(dpkg-query -W -f '${Version}' libspice-server1 2>/dev/null): Xorg pid $xorg, display :$xnum," \
    "127.0.0.1:$xport, $SIZE, flags: --disable-ticketing $XSPICE_ARGS"
start_client Xspice "$xport"
run_workload Xspice ":$xnum" "$xport" --measure "Xorg=$xorg"
stop_all

# --- spicebox --------------------------------------------------------------------
start_xvfb spicebox-xvfb "$SIZE"
sb_xvfb=$xvfb_pid
sb_display=$xvfb_display
check_size "$sb_display"
sport=$(free_port)
# shellcheck disable=SC2086
"$BIN" --disable-ticketing --addr 127.0.0.1 --port "$sport" --source "x11:$sb_display" \
    $SPICEBOX_ARGS 2>"$dir/spicebox.log" </dev/null &
pids+=("$!")
sb=$!
wait_listening "$sport" "$sb" "$dir/spicebox.log"
echo
echo "spicebox $("$BIN" --version | awk '{print $2}') (release, $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+uncommitted changes')):" \
    "pid $sb, Xvfb pid $sb_xvfb display $sb_display, 127.0.0.1:$sport, $SIZE," \
    "flags: --disable-ticketing --source x11:$sb_display $SPICEBOX_ARGS"
start_client spicebox "$sport"
run_workload spicebox "$sb_display" "$sport" --measure "spicebox=$sb" --measure "Xvfb=$sb_xvfb"
stop_all

# --- report ----------------------------------------------------------------------
echo
echo "client: $([[ $CLIENT == spicy ]] && echo "spicy (spice-gtk $(dpkg-query -W -f '${Version}' spice-client-gtk 2>/dev/null)) under its own Xvfb" || echo hold_session)," \
    "phases of $PHASE_S s, $SIZE, load after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 "$WORKLOAD" table "$dir/Xspice.json" "$dir/spicebox.json"
echo
echo "wall time: $(($(date +%s) - t_begin)) s (build included)"
