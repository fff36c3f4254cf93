#!/usr/bin/env bash
# Whole-process time of one rpc, erlnode's client against OTP's:
#   erlnode rpc NODE erlnode echo '[hello]'          (release build)
#   erl_call -sname NODE -c COOKIE -a 'erlnode echo [hello]'
# both against the same running `erlnode serve`, on a private EPMD port.
# Usage: scripts/rpc_timing.sh [RUNS]   (default 20 runs each; median in ms)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}

cargo build --release --quiet --bin erlnode
bin=target/release/erlnode

port=$((20000 + RANDOM % 20000))
export ERL_EPMD_PORT=$port
cookie="timing_$$_$RANDOM"
name="rpctiming_$$"
log=$(mktemp)
epmd -port "$port" >/dev/null 2>&1 &
epmd_pid=$!
serve_pid=""
cleanup() {
    [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
    kill "$epmd_pid" 2>/dev/null || true
    rm -f "$log"
}
trap cleanup EXIT

"$bin" serve --sname "$name" --cookie "$cookie" --no-epmd >"$log" 2>&1 &
serve_pid=$!
for _ in $(seq 300); do
    grep -q '^ready ' "$log" && break
    sleep 0.1
done
node=$(sed -n 's/^ready //p' "$log")
[ -n "$node" ] || { echo "erlnode serve did not start:"; cat "$log"; exit 1; }

# Both must give the right answer before they are timed.
out=$("$bin" rpc "$node" erlnode echo '[hello]' --cookie "$cookie")
[ "$out" = hello ] || { echo "erlnode rpc printed: $out"; exit 1; }
out=$(erl_call -sname "$name" -c "$cookie" -a 'erlnode echo [hello]')
[ "$out" = hello ] || { echo "erl_call printed: $out"; exit 1; }

# Prints "median min max" in ms (one decimal) over $runs runs of the command.
measure() {
    for _ in $(seq "$runs"); do
        s=$(date +%s%N)
        "$@" >/dev/null
        e=$(date +%s%N)
        echo $(((e - s) / 1000))
    done | sort -n | awk '{v[NR] = $1} END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.1f %.1f %.1f\n", m / 1000, v[1] / 1000, v[NR] / 1000 }'
}

read -r e_med e_min e_max < <(measure "$bin" rpc "$node" erlnode echo '[hello]' --cookie "$cookie")
read -r c_med c_min c_max < <(measure erl_call -sname "$name" -c "$cookie" -a 'erlnode echo [hello]')
echo "runs: $runs each, against $node"
echo "erlnode rpc: median ${e_med} ms (min ${e_min}, max ${e_max})"
echo "erl_call:    median ${c_med} ms (min ${c_min}, max ${c_max})"
awk -v e="$e_med" -v c="$c_med" 'BEGIN { printf "ratio erlnode/erl_call: %.2f (target <= 1.5)\n", e / c }'
