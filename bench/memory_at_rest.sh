#!/usr/bin/env bash
# Memory at rest: VmRSS and Pss (from /proc/PID/smaps_rollup) of every
# spicebox process (supervisor, demo host, each worker) with one client
# connected and the demo frozen, after 3 s idle; and, as the reference,
# the same figures for QEMU's libspice-server:
#   qemu-system-x86_64 -accel tcg -m 128 -nodefaults -vga std -display none
#     -spice port=P,addr=127.0.0.1,disable-ticketing=on
# measured the same way (a spicy-screenshot first, then one client held
# connected, 3 s idle).
#
# Pss splits shared pages (the one spicebox binary mapped by every process)
# among the processes that share them, so the Pss total is the fair figure
# for "what the server costs"; the VmRSS total counts shared pages again in
# every process.
#
# Usage: bench/memory_at_rest.sh     (env: IDLE_S=3)
# Builds release first; serves on 127.0.0.1 only; stops what it starts by PID.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
IDLE_S=${IDLE_S:-3}
TARGET=${CARGO_TARGET_DIR:-target}

cargo build --release -p spicebox-supervisor --bin spicebox
cargo build --release -p spicebox-tests --example hold_session
BIN=$TARGET/release/spicebox
HOLD=$TARGET/release/examples/hold_session

dir=$(mktemp -d /tmp/spicebox-mem-bench.XXXXXX)
pids=()

cleanup() {
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        stop_pid "${pids[i]}"
    done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

screenshot() { # PORT NAME
    timeout --kill-after=5 60 spicy-screenshot -h 127.0.0.1 -p "$1" -o "$dir/$2.ppm" \
        >"$dir/$2.shot.log" 2>&1 </dev/null || {
        echo "spicy-screenshot against port $1 failed:" >&2
        tail -n 20 "$dir/$2.shot.log" >&2
        exit 1
    }
    [[ -s $dir/$2.ppm ]] || { echo "spicy-screenshot wrote no picture" >&2; exit 1; }
}

hold() { # PORT NAME: starts a held client session; waits for "ready"
    local port=$1 name=$2 i
    "$HOLD" --port "$port" --seconds 120 >"$dir/$name.hold.out" 2>"$dir/$name.hold.err" &
    pids+=("$!")
    for i in $(seq 300); do
        grep -q '^ready' "$dir/$name.hold.out" 2>/dev/null && { sed 's/^/  client: /' "$dir/$name.hold.out"; return 0; }
        if ! kill -0 "${pids[-1]}" 2>/dev/null || [[ $i == 300 ]]; then
            echo "the held client session did not get a picture:" >&2
            cat "$dir/$name.hold.err" >&2
            exit 1
        fi
        sleep 0.1
    done
}

kb() { # PID FILE FIELD: the kB value of FIELD in /proc/PID/FILE
    awk -v f="$3:" '$1 == f { print $2; exit }' "/proc/$1/$2" 2>/dev/null || echo 0
}

row() { # LABEL PID
    local rss pss
    rss=$(kb "$2" status VmRSS)
    pss=$(kb "$2" smaps_rollup Pss)
    printf '  %-22s %8s %10s kB %10s kB\n' "$1" "$2" "${rss:-0}" "${pss:-0}"
    total_rss=$((total_rss + ${rss:-0}))
    total_pss=$((total_pss + ${pss:-0}))
}

# --- spicebox ---------------------------------------------------------------
port=$(free_port)
"$BIN" --disable-ticketing --demo-freeze --addr 127.0.0.1 --port "$port" \
    --control "$dir/ctl.sock" 2>"$dir/spicebox.log" &
pids+=("$!")
sup=$!
wait_listening "$port" "$sup" "$dir/spicebox.log"
screenshot "$port" spicebox
hold "$port" spicebox
sleep "$IDLE_S"

echo "spicebox $("$BIN" --version | awk '{print $2}') (release), 1280x800 demo frozen, one client connected, ${IDLE_S} s idle:"
printf '  %-22s %8s %13s %13s\n' process pid VmRSS Pss
total_rss=0
total_pss=0
while read -r label pid; do
    row "$label" "$pid"
done < <(timeout 10 "$BIN" ctl --socket "$dir/ctl.sock" status | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("supervisor", d["supervisor_pid"])
print("host(demo)", d["host"]["pid"])
for w in d["workers"]:
    print("worker:%s" % w["role"], w["pid"])
')
printf '  %-22s %8s %10s kB %10s kB\n' total "" "$total_rss" "$total_pss"
sb_rss=$total_rss
sb_pss=$total_pss
# Stop the client and server before QEMU starts (one thing at a time).
for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_pid "${pids[i]}"; done
pids=()

# --- QEMU -spice (libspice-server) -------------------------------------------
qport=$(free_port)
qemu-system-x86_64 -accel tcg -m 128 -nodefaults -vga std -display none \
    -spice "port=$qport,addr=127.0.0.1,disable-ticketing=on" \
    >"$dir/qemu.log" 2>&1 </dev/null &
pids+=("$!")
qpid=$!
wait_listening "$qport" "$qpid" "$dir/qemu.log"
screenshot "$qport" qemu
hold "$qport" qemu
sleep "$IDLE_S"
echo
echo "$(qemu-system-x86_64 --version | head -n 1), libspice-server $(pkg-config --modversion spice-server 2>/dev/null || dpkg-query -W -f '${Version}' 'libspice-server1*' 2>/dev/null | head -c 40 || echo '?'), -m 128, one client connected, ${IDLE_S} s idle:"
printf '  %-22s %8s %13s %13s\n' process pid VmRSS Pss
total_rss=0
total_pss=0
row qemu-system-x86_64 "$qpid"

echo
awk -v a="$sb_pss" -v b="$total_pss" -v c="$sb_rss" -v d="$total_rss" 'BEGIN {
    printf "spicebox / QEMU: Pss %.2f, VmRSS %.2f (totals over all spicebox processes)\n", a / b, c / d
}'
