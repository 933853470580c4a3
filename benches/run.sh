#!/usr/bin/env bash
# wirepool against hyper, ureq and wrk: builds loadgen, the peers, bench-server,
# idle-memory and loadbench in release mode, then runs loadbench (what it measures:
# benches/src/bin/loadbench.rs; results: docs/benchmarks.md).
#
#   benches/run.sh                      # the full sweep recorded in docs/benchmarks.md
#   benches/run.sh --only plain --conns 64 --reps 3
#   benches/run.sh --server builtin     # the mio bench-server instead of nginx (no HTTPS)
#
# Installs nginx-light and wrk with apt-get when they are missing and this runs as root
# (say NO_INSTALL=1 to skip); without them it falls back to bench-server and skips the
# wrk rows, printing a note. Pinning uses `taskset` (util-linux). Raw runs go to
# target/loadbench/results.jsonl; the Markdown goes to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${NO_INSTALL:-0}" != 1 && "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    missing=()
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
    command -v wrk >/dev/null || missing+=(wrk)
    command -v strace >/dev/null || missing+=(strace)
    if ((${#missing[@]})); then
        echo "run.sh: installing ${missing[*]}" >&2
        (apt-get update -qq && apt-get install -y -qq "${missing[@]}") >&2 ||
            echo "run.sh: note: could not install ${missing[*]}; continuing without" >&2
    fi
fi
# 10 000 connections need more descriptors than the usual soft limit of 1024.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "run.sh: open files limit $(ulimit -n)" >&2
cargo build --release --quiet -p examples --bin loadgen -p benches \
    --bin bench-server --bin loadbench --bin peer-hyper --bin peer-ureq --bin peer-wrk \
    --bin idle-memory
exec target/release/loadbench "$@"
