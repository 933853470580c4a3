#!/usr/bin/env bash
# Engine and Client under load: builds loadgen, bench-server and loadbench in release
# mode, then runs loadbench (see benches/src/bin/loadbench.rs for what it measures).
#
#   benches/run.sh                      # C=1 and C=64, 5 reps x 5 s, nginx if installed
#   benches/run.sh --strace 3           # what docs/benchmarks.md records
#   benches/run.sh --reps 3 --secs 10 --conns 1,16,64
#   benches/run.sh --server builtin     # the std-threads bench-server instead of nginx
#
# nginx: `apt-get install -y nginx-light` (or nginx). Pinning uses `taskset` (util-linux).
# Prints a Markdown fragment for docs/benchmarks.md; raw runs go to
# target/loadbench/results.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p examples --bin loadgen -p benches --bin bench-server --bin loadbench
exec target/release/loadbench "$@"
