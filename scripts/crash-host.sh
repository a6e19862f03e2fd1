#!/bin/sh
# Usage: scripts/crash-host.sh [POINTS] [resume|rollback]
# kill -9 of the release host at POINTS points per strategy (default 20, so
# 60 in all) across every phase of a release, with load flowing through the
# data plane, restarting the host each time. Prints one row per strategy:
# releases recovered / lost / left undriven, history entries that disagree
# with the traffic served, and failed user requests.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec cargo run --release --quiet --example crash_host -- --points "${1:-20}" \
    --on-restart "${2:-resume}"
