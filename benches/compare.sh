#!/usr/bin/env bash
# Before/after comparison of two loadgen builds against one bench-server, alternating,
# with hyper-util as the reference: callgrind instructions per request (independent of
# machine load) and wall-clock CPU per request (server pinned to CPU 0, clients to CPU 1).
#
#   benches/compare.sh BEFORE_DIR AFTER_DIR
#
# Each DIR holds a release `loadgen`; AFTER_DIR also `bench-server` and `peer-hyper`
# (cargo build --release -p examples --bin loadgen -p benches --bin bench-server
# --bin peer-hyper, then copy them out of target/release). Prints one line per run:
# `who C rep rps cpu_us_per_req p50_us errors`, then the callgrind totals.
set -euo pipefail
before=${1:?usage: compare.sh BEFORE_DIR AFTER_DIR}
after=${2:?usage: compare.sh BEFORE_DIR AFTER_DIR}
reps=${REPS:-5}
taskset -c 0 "$after/bench-server" 127.0.0.1:18091 > /dev/null 2>&1 &
spid=$!
trap 'kill $spid' EXIT
sleep 0.5
url=http://127.0.0.1:18091/
field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["rps"], d["cpu_us_per_req"], d["p50_us"], d["errors"])'; }
for rep in $(seq "$reps"); do
  for c in 1 64; do
    echo "before c=$c rep=$rep $(taskset -c 1 "$before/loadgen" --url $url -c $c -d 2 --json | field)"
    echo "after c=$c rep=$rep $(taskset -c 1 "$after/loadgen" --url $url -c $c -d 2 --json | field)"
    echo "hyper c=$c rep=$rep $(taskset -c 1 "$after/peer-hyper" --url $url -c $c -d 2 --json --mode cur | field)"
  done
  for who in before after; do
    dir=$before; [[ $who == after ]] && dir=$after
    echo "$who-client c=64 rep=$rep $(taskset -c 1 "$dir/loadgen" --url $url -c 64 -d 2 --json --mode client | field)"
  done
done
if command -v valgrind > /dev/null; then
  out=$(mktemp -d)
  for who in before after; do
    dir=$before; [[ $who == after ]] && dir=$after
    for args in "-c 1 -n 10000" "-c 64 -n 30000" "-c 64 -n 30000 --mode client"; do
      # shellcheck disable=SC2086
      valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" "$dir/loadgen" --url $url $args > /dev/null 2>&1
      echo "callgrind $who [$args] instructions $(awk '/^summary:/ {print $2}' "$out/cg.out")"
    done
  done
  rm -rf "$out"
fi
