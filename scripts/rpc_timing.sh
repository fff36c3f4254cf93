#!/usr/bin/env bash
# Whole-process time of one rpc, erlnode's client against OTP's:
#   erlnode rpc NODE erlnode echo '[hello]'          (release build)
#   erl_call -sname NODE -c COOKIE -a 'erlnode echo [hello]'
# both against the same running `erlnode serve`, on a private EPMD port.
# Usage: scripts/rpc_timing.sh [RUNS]   (default 20 runs each; median in ms)
#
# It times two builds of erlnode: the default `cargo build --release` (linked
# dynamically against glibc) and a static one (`-C target-feature=+crt-static`,
# see the README's "The command line"), whose process start costs about
# 0.6 ms less: no shared libraries to map and bind.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}

cargo build --release --quiet --bin erlnode
bin=target/release/erlnode
host=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --quiet --bin erlnode --target "$host"
static_bin=target/$host/release/erlnode

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

# Runs both commands $runs times, interleaved (so load changes hit both
# alike), timing each whole process with a monotonic clock; prints median,
# 10th percentile and minimum in ms, and the ratio of the medians.
python3 - "$runs" "$bin" "$node" "$name" "$cookie" "$static_bin" <<'PY'
import statistics, subprocess, sys, time
runs, bin_, node, name, cookie, static_bin = int(sys.argv[1]), *sys.argv[2:]
cmds = {
    "erlnode rpc": [bin_, "rpc", node, "erlnode", "echo", "[hello]", "--cookie", cookie],
    "static rpc": [static_bin, "rpc", node, "erlnode", "echo", "[hello]", "--cookie", cookie],
    "erl_call": ["erl_call", "-sname", name, "-c", cookie, "-a", "erlnode echo [hello]"],
}
times = {k: [] for k in cmds}
for _ in range(runs):
    for k, c in cmds.items():
        t = time.perf_counter()
        out = subprocess.run(c, stdout=subprocess.PIPE, check=True).stdout
        assert out.strip() == b"hello", (k, out)
        times[k].append((time.perf_counter() - t) * 1000)
print(f"runs: {runs} each, interleaved, against {node}")
for k, v in times.items():
    v.sort()
    print(f"{k:12s} median {statistics.median(v):.2f} ms  p10 {v[len(v) // 10]:.2f}  min {v[0]:.2f}")
m = {k: statistics.median(v) for k, v in times.items()}
for k in ("erlnode rpc", "static rpc"):
    print(f"ratio {k} / erl_call (medians): {m[k] / m['erl_call']:.2f} (target <= 1.5)")
PY
