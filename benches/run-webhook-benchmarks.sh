#!/usr/bin/env bash
# Reproduces the webhook measurements of BENCHMARKS.md: starts `scopegate serve` on loopback
# (the embedded demo policy, then a generated 100k-binding policy with and without the cache
# tiers), drives it with loadgen, and stops every server it started.
#
# Run from the repository root after
#   cargo build --release -p scopegate -p scopegate-benches
#
# Environment: OUT (results, default /tmp/sg-bench-results), CERTS (--self-signed dir,
# default /tmp/sg-bench), POLICY (generated policy dir, default /tmp/sg-policy-100k),
# PORT (default 18443), REPEAT (runs per scenario, default 3), DURATION (seconds, default 10),
# QUIET (1: before each run, wait up to QUIET_MAX seconds, default 120, until the machine is
# nearly idle, so that other processes' load does not skew the run; the wait is logged),
# PHASES (which servers to run, default "demo 100k no-cache pinned"), ONLY (a regular
# expression: run only the scenarios whose name matches, e.g. ONLY=open-10k).
set -euo pipefail

OUT=${OUT:-/tmp/sg-bench-results}
CERTS=${CERTS:-/tmp/sg-bench}
POLICY=${POLICY:-/tmp/sg-policy-100k}
PORT=${PORT:-18443}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-10}
QUIET=${QUIET:-0}
QUIET_MAX=${QUIET_MAX:-120}
PHASES=" ${PHASES:-demo 100k no-cache pinned} "
ONLY=${ONLY:-.}
BIN=target/release
SERVER_PID=

mkdir -p "$OUT"
: >"$OUT/summary.txt"

stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap stop_server EXIT

log() { echo "$@" | tee -a "$OUT/summary.txt"; }

# start_server NAME [PREFIX...] -- [SERVE ARGS...]: starts the webhook, waits until it
# listens, and logs how long that took and its memory.
start_server() {
    local name=$1
    shift
    local prefix=()
    while [ "$1" != "--" ]; do
        prefix+=("$1")
        shift
    done
    shift
    local t0 t1
    t0=$(date +%s.%N)
    "${prefix[@]}" "$BIN/scopegate" serve --self-signed "$CERTS" --listen "127.0.0.1:$PORT" "$@" \
        >"$OUT/$name-server.log" 2>&1 &
    SERVER_PID=$!
    until grep -q "listening on" "$OUT/$name-server.log"; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            cat "$OUT/$name-server.log"
            echo "the server stopped" >&2
            exit 1
        fi
        sleep 0.01
    done
    t1=$(date +%s.%N)
    log "## $name: pid $SERVER_PID listening after $(echo "$t1 - $t0" | bc) s;" \
        "$(grep -E 'VmRSS|VmHWM' "/proc/$SERVER_PID/status" | tr -s ' \t' ' ' | tr '\n' ' ')"
}

# busy_cores: how many cores the whole machine kept busy over the last 2 seconds.
busy_cores() {
    local a b
    a=$(head -1 /proc/stat)
    sleep 2
    b=$(head -1 /proc/stat)
    echo "$a $b" | awk -v n="$(nproc)" '{
        t1 = 0; for (i = 2; i <= 9; i++) t1 += $i; i1 = $5 + $6
        t2 = 0; for (i = 13; i <= 20; i++) t2 += $i; i2 = $16 + $17
        printf "%.2f", ((t2 - t1) - (i2 - i1)) / (t2 - t1) * n }'
}

# wait_quiet: with QUIET=1, waits until the machine is nearly idle (at most QUIET_MAX s).
wait_quiet() {
    [ "$QUIET" = 1 ] || return 0
    local start busy
    start=$(date +%s)
    while :; do
        busy=$(busy_cores)
        if awk -v b="$busy" 'BEGIN { exit !(b < 0.25) }'; then
            log "   (machine quiet: $busy cores busy, waited $(($(date +%s) - start)) s)"
            return 0
        fi
        if [ $(($(date +%s) - start)) -ge "$QUIET_MAX" ]; then
            log "   (machine still busy after ${QUIET_MAX} s: $busy cores busy; running anyway)"
            return 0
        fi
    done
}

# load NAME [PREFIX...] -- [LOADGEN ARGS...]: REPEAT runs of loadgen against the server.
load() {
    local name=$1
    shift
    [[ "$name" =~ $ONLY ]] || return 0
    local prefix=()
    while [ "$1" != "--" ]; do
        prefix+=("$1")
        shift
    done
    shift
    for i in $(seq 1 "$REPEAT"); do
        wait_quiet
        log "== $name #$i ($(date -u +%H:%M:%S), loadavg $(cut -d' ' -f1-3 /proc/loadavg))"
        "${prefix[@]}" "$BIN/loadgen" --ca "$CERTS/ca.crt" --addr "127.0.0.1:$PORT" \
            --server-pid "$SERVER_PID" --duration "$DURATION" "$@" | tee -a "$OUT/summary.txt"
    done
}

log "# $(date -u)"
log "# nproc $(nproc); $(lscpu | grep 'Model name' | tr -s ' ')"
log "# $(free -h | awk '/Mem:/ {print "memory " $2 " total, " $7 " available"}')"
log "# commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

if [ ! -d "$POLICY" ]; then
    "$BIN/gen_policy" --size 100k --seed 42 --out "$POLICY" | tee -a "$OUT/summary.txt"
fi

phase() { [[ "$PHASES" == *" $1 "* ]]; }

# The embedded demo policy.
if phase demo; then
    start_server demo --
    load demo-closed-32 -- --connections 32
    load demo-closed-64 -- --connections 64
    load demo-open-10k -- --connections 32 --rate 10000
    stop_server
fi

# The generated 100k-binding policy, default cache tiers.
if phase 100k; then
    start_server 100k -- --policy "$POLICY"
    load 100k-closed-32 -- --policy-size 100k --connections 32
    load 100k-closed-64 -- --policy-size 100k --connections 64
    load 100k-open-10k -- --policy-size 100k --connections 32 --rate 10000
    stop_server
fi

# The same without the cache tiers: every request decided on the snapshot.
if phase no-cache; then
    start_server 100k-no-cache -- --policy "$POLICY" --no-cache
    load 100k-no-cache-closed-32 -- --policy-size 100k --connections 32
    load 100k-no-cache-open-10k -- --policy-size 100k --connections 32 --rate 10000
    stop_server
fi

# Client and server on separate cores (server on CPU 1, loadgen on CPU 0).
if phase pinned; then
    start_server 100k-pinned taskset -c 1 -- --policy "$POLICY"
    load 100k-pinned-open-10k taskset -c 0 -- --policy-size 100k --connections 32 --rate 10000
    stop_server
fi

log "# done $(date -u)"
