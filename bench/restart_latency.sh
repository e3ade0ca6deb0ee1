#!/usr/bin/env bash
# Restart latency of the display worker as a client sees it: time from
# `kill -9` of the display worker to the client having received the whole
# full-surface redraw, 20 times, with the median and p90; and, as the
# reference in the same run, the time from a fresh TCP connect to the first
# complete frame (median of 20), so the restart figure can be given as a
# ratio.
#
# The restart budget (at most 5 unintended deaths in 60 s) and the restart
# delay (none for a first death, then 50 ms doubling while a worker keeps
# dying, reset after 10 s of health) mean kills are spaced 12.2 s apart, so
# each one is a first death:
# with the defaults the run takes about 4.5 minutes.
#
# Usage: bench/restart_latency.sh        (env: RUNS=20 SPACING_MS=12200)
# Builds release first; serves on 127.0.0.1 only; stops what it starts by PID.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
RUNS=${RUNS:-20}
SPACING_MS=${SPACING_MS:-12200}
TARGET=${CARGO_TARGET_DIR:-target}

cargo build --release -p spicebox-supervisor --bin spicebox
cargo build --release -p spicebox-tests --example restart_latency
BIN=$TARGET/release/spicebox
EXAMPLE=$TARGET/release/examples/restart_latency

dir=$(mktemp -d /tmp/spicebox-restart-bench.XXXXXX)
server_pid=""
bench_pid=""

cleanup() {
    stop_pid "$bench_pid"
    stop_pid "$server_pid"
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN" --disable-ticketing --demo-freeze --addr 127.0.0.1 --port "$port" \
    --control "$dir/ctl.sock" 2>"$dir/server.log" &
server_pid=$!

# Ready when the control socket answers (at most 20 s).
for i in $(seq 200); do
    if [[ -S $dir/ctl.sock ]] && timeout 5 "$BIN" ctl --socket "$dir/ctl.sock" status >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null || [[ $i == 200 ]]; then
        echo "spicebox did not start; its log:" >&2
        tail -n 30 "$dir/server.log" >&2
        exit 1
    fi
    sleep 0.1
done

echo "spicebox $("$BIN" --version 2>/dev/null | awk '{print $2}') (release), pid $server_pid, 127.0.0.1:$port, $(nproc) CPUs"
limit=$(( RUNS * (SPACING_MS / 1000 + 3) + 120 ))
timeout --kill-after=10 "$limit" "$EXAMPLE" --port "$port" --control "$dir/ctl.sock" \
    --runs "$RUNS" --spacing-ms "$SPACING_MS" &
bench_pid=$!
status=0
wait "$bench_pid" || status=$?
bench_pid=""
if [[ $status != 0 ]]; then
    echo "restart_latency failed (exit $status); end of the server log:" >&2
    tail -n 30 "$dir/server.log" >&2
    exit "$status"
fi
echo
echo "workers after the run (ctl status):"
timeout 10 "$BIN" ctl --socket "$dir/ctl.sock" status | python3 -c '
import json, sys
d = json.load(sys.stdin)
for w in d["workers"]:
    print("  %s: phase %s, generation %s, restarts %s"
          % (w["role"], w["phase"], w["generation"], w["restarts"]))
'
