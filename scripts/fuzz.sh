#!/usr/bin/env bash
# Runs the cargo-fuzz targets (fuzz/) for SECONDS each (default 600), two at
# a time, at the lowest priority, starting from and adding to the committed
# corpora in fuzz/corpus/<target>/. Crashes land in fuzz/artifacts/<target>/.
# Needs the nightly toolchain and cargo-fuzz.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Afterwards, minimise a grown corpus before committing it:
#   cd fuzz && cargo +nightly fuzz cmin -O -a -s none TARGET corpus/TARGET
#
# -s none: erlnode forbids unsafe code, so AddressSanitizer finds little and
# halves the speed; -a keeps debug assertions (integer overflow) on.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode dist_frame handshake_acceptor handshake_initiator epmd_server dist_header)
declare -A max_len=([decode]=8192 [dist_frame]=8192 [handshake_acceptor]=1024
                    [handshake_initiator]=1024 [epmd_server]=2048 [dist_header]=8192)
cargo +nightly fuzz build -O -a -s none
run() {
    local t=$1
    mkdir -p "artifacts/$t" "corpus/$t"
    nice -n 19 cargo +nightly fuzz run -O -a -s none "$t" "corpus/$t" -- \
        -max_total_time="$secs" -max_len="${max_len[$t]:-4096}" \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 2>&1 |
        grep -E '^(Done|stat::|==|.*panicked)' | sed "s/^/[$t] /"
}
i=0
for t in "${targets[@]}"; do
    run "$t" &
    i=$((i + 1))
    if [ $((i % 2)) -eq 0 ]; then wait; fi
done
wait
