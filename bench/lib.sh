# Shell helpers shared by the bench scripts: source it after `cd` to the
# repository root. Every process a script starts is stopped by its PID.

# PID: SIGTERM, up to 5 s, then SIGKILL; reaped when it is our child. An
# empty PID is nothing to stop.
stop_pid() {
    local pid=$1
    [[ -n $pid ]] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# PORT PID LOG: waits at most 30 s for PID to listen on 127.0.0.1:PORT;
# exits with the tail of LOG when it dies or never does.
wait_listening() {
    local port=$1 pid=$2 log=$3 i
    for i in $(seq 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null || [[ $i == 300 ]]; then
            echo "pid $pid never listened on 127.0.0.1:$port; its log:" >&2
            tail -n 30 "$log" >&2
            exit 1
        fi
        sleep 0.1
    done
}
