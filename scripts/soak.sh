#!/usr/bin/env bash
# Soak test: mixed traffic (ordered messages, rpc, spawn/link/exit churn)
# from 5 real erl peers against one erlnode node, for SECONDS (default 60).
# It checks that nothing is lost or reordered and that memory is stable.
#   scripts/soak.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK_SECONDS="${1:-60}" exec cargo test --release --test soak -- --nocapture
