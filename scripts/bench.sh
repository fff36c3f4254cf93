#!/usr/bin/env bash
# Side-by-side benchmark: the same workloads against a BEAM peer node and
# against `erlnode serve` (release build), taking turns, on a private EPMD
# port. Prints one markdown table: workload | BEAM peer | erlnode | ratio.
#
#   scripts/bench.sh          every workload (a few minutes)
#   scripts/bench.sh codec    only the codec rows (no nodes started)
#
# The driver is interop/erlnode_bench.erl running in a real erl node; the
# Rust side is target/release/erlnode serve plus the examples bench_peer and
# codec_bench. Figures are medians of a few turns. Benchmarks only: nothing
# here is a pass/fail test, the "met" column just compares with the targets
# of issues 2 and 6.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-all}"
case "$mode" in
    all|codec) ;;
    *) echo "usage: scripts/bench.sh [codec]" >&2; exit 2 ;;
esac

echo "== building (release)" >&2
cargo build --release --quiet --bin erlnode --example bench_peer --example loopback_floor >&2
# The codec examples with mimalloc as their allocator (README, "Allocator").
cargo build --release --quiet --features mimalloc --example codec_bench --example decode_bound >&2

work="$(mktemp -d -t erlnode-bench.XXXXXX)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

erlc -o "$work" interop/erlnode_bench.erl

otp="$(erl -noshell -eval 'io:format("~s (ERTS ~s)", [erlang:system_info(otp_release), erlang:system_info(version)]), halt().')"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cores (nproc): $(nproc)"
echo "Erlang/OTP: $otp"
echo "allocator: the system's (glibc) for erlnode serve and bench_peer; mimalloc for codec_bench"
echo "git rev: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src examples interop scripts || echo ' (modified)')"
echo

rel="$PWD/target/release"
if [ "$mode" = codec ]; then
    erl -noshell -pa "$work" -run erlnode_bench codec "$work" "$rel/examples/codec_bench"
    echo
    "$rel/examples/decode_bound" "$work/corpus.etf"
    exit 0
fi

# A private EPMD, so that nothing here meets other nodes on this machine.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export ERL_EPMD_PORT="$port"
epmd -port "$port" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done

cookie="bench_$$_$RANDOM"
tag="$$"
RUST_LOG=warn "$rel/erlnode" serve --sname "bench_rust_$tag" --cookie "$cookie" --no-epmd \
    >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
pids+=("$serve_pid")
rust_node=""
for _ in $(seq 1 600); do
    rust_node="$(sed -n 's/^ready //p' "$work/serve.out")"
    [ -n "$rust_node" ] && break
    kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
    sleep 0.05
done
[ -n "$rust_node" ] || { echo "erlnode serve did not become ready" >&2; exit 1; }

erl -sname "bench_drv_$tag" -hidden -setcookie "$cookie" -noshell -pa "$work" \
    -run erlnode_bench main "$rust_node" "$serve_pid" "$work" \
    "$rel/examples/bench_peer" "$rel/examples/codec_bench"

# The kernel's share of a serial round trip on this machine: two processes
# bouncing 60 bytes over loopback with nothing else (docs/BENCH.md).
echo
"$rel/examples/loopback_floor" 20000
# What the codec decode row would be if allocating and freeing cost nothing
# (docs/BENCH.md, "What bounds decode").
"$rel/examples/decode_bound" "$work/corpus.etf"
