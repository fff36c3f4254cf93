#!/usr/bin/env bash
# The one command that checks erlnode: installs Erlang/OTP when it is missing
# (the interop tests run against real erl, epmd and erl_call and never skip),
# then formatting, clippy and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

if ! command -v erl >/dev/null 2>&1 || ! command -v erl_call >/dev/null 2>&1; then
    echo "== installing Erlang/OTP (erlang-nox, erlang-dev)"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq erlang-nox erlang-dev >/dev/null
fi
echo "== $(erl -noshell -eval 'io:format("Erlang/OTP ~s, ERTS ~s", [erlang:system_info(otp_release), erlang:system_info(version)]), halt().')"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
# The codec benchmark examples as scripts/bench.sh builds them.
echo "== cargo clippy --examples --features mimalloc -- -D warnings"
cargo clippy --examples --features mimalloc -- -D warnings

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --all-targets --no-fail-fast
    # nextest does not run doctests.
    cargo test --doc
else
    cargo test --all-targets --no-fail-fast
    cargo test --doc
fi

echo "== all checks passed in $(( $(date +%s) - start )) s"
