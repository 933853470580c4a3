#!/usr/bin/env bash
# What observability costs: loadgen (release) at C connections against bench-server,
# CPU µs per request with no tracer, a no-op tracer (--noop-tracer) and the logging layer
# (--log-layer, its lines to /dev/null), in engine and client mode. The variants run in
# A/B alternation, ROUNDS times (the order rotated each round), and the medians are
# printed as a Markdown table; raw JSON lines go to target/observability/runs.jsonl.
# Results: docs/benchmarks.md ("Trace hooks and layers").
#
#   benches/observability.sh                 # C=64, 5 s per run, 7 rounds
#   C=16 SECS=3 ROUNDS=5 benches/observability.sh
set -euo pipefail
cd "$(dirname "$0")/.."
C=${C:-64}
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-7}
cargo build --release --quiet -p examples --bin loadgen -p benches --bin bench-server
out=target/observability
mkdir -p "$out"
: > "$out/runs.jsonl"
target/release/bench-server 127.0.0.1:0 > "$out/server.txt" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    grep -q "listening on" "$out/server.txt" 2>/dev/null && break
    sleep 0.1
done
addr=$(sed -n 's/^listening on //p' "$out/server.txt" | head -1)
url="http://$addr/"
variants=("engine none" "engine noop" "client none" "client noop" "client log")
n=${#variants[@]}
for round in $(seq "$ROUNDS"); do
    for i in $(seq 0 $((n - 1))); do
        v=${variants[$(((i + round) % n))]}
        read -r mode tracer <<< "$v"
        flags=()
        [[ $tracer == noop ]] && flags+=(--noop-tracer)
        [[ $tracer == log ]] && flags+=(--log-layer)
        line=$(target/release/loadgen --url "$url" -c "$C" -d "$SECS" --json --mode "$mode" \
            "${flags[@]}" 2>/dev/null)
        echo "{\"round\":$round,\"variant\":\"$mode $tracer\",\"run\":$line}" >> "$out/runs.jsonl"
        echo "round $round: $mode $tracer done" >&2
    done
done
python3 - "$out/runs.jsonl" "${variants[@]}" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
print("| mode | tracer / layer | CPU µs/request (median) | min–max | requests/s (median) | runs |")
print("|---|---|---|---|---|---|")
for v in sys.argv[2:]:
    rs = [r["run"] for r in runs if r["variant"] == v]
    cpu = [r["cpu_us_per_req"] for r in rs]
    rps = [r["rps"] for r in rs]
    mode, tracer = v.split()
    name = {"none": "none", "noop": "no-op tracer", "log": "LogLayer (lines to /dev/null)"}[tracer]
    print(f"| {mode} | {name} | {statistics.median(cpu):.2f} | {min(cpu):.2f}–{max(cpu):.2f} "
          f"| {statistics.median(rps):,.0f} | {len(rs)} |")
EOF
