#!/usr/bin/env bash
# Benchmark of the embedded data plane (a measurement, not a test).
#
# Three paths, each measured with the same load tools and settings:
#   1. direct to a small fast upstream (examples/bench_upstream.rs),
#   2. through helmsman's data plane (examples/bench_dataplane.rs),
#   3. through HAProxy (Debian's package, mode http, keep-alive, 2 threads).
# Two measurements (issue 2's targets):
#   * throughput: wrk, closed loop, as many requests/s as each path sustains.
#     Target: helmsman >= 80 % of HAProxy's requests/s.
#   * added latency: examples/bench_load.rs, open loop at fixed rates below
#     saturation (coordinated-omission corrected), p50/p99/p99.9 per path.
#     Target: helmsman's p99 minus direct's p99 < 1 ms.
# Rounds are interleaved (direct, helmsman, HAProxy, direct, ...) so a burst
# of load from elsewhere on the machine hits every path alike; every figure
# is the median over the rounds.
#
# Environment: ROUNDS (3); throughput: THREADS (2), CONNECTIONS (32),
# DURATION (10s); latency: RATES ("2000 5000" requests/s), LATENCY_SECONDS
# (10, after a 2 s warm-up), LATENCY_CONNECTIONS (16). DATAPLANE_BIN runs
# another build of examples/bench_dataplane.rs (e.g. an older commit's).
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-10s}
RATES=${RATES:-2000 5000}
LATENCY_SECONDS=${LATENCY_SECONDS:-10}
LATENCY_CONNECTIONS=${LATENCY_CONNECTIONS:-16}
LOAD_BEFORE=$(cut -d" " -f1-3 /proc/loadavg)
UPSTREAM=127.0.0.1:18080
HELMSMAN=127.0.0.1:18081
HELMSMAN_ADMIN=127.0.0.1:18091
HAPROXY=127.0.0.1:18082

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
updated=
need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "installing $2 ..." >&2
    if [ -z "$updated" ]; then as_root apt-get update -qq; updated=1; fi
    as_root apt-get install -y -qq "$2" >&2
  fi
}
need wrk wrk
need haproxy haproxy

echo "building release examples ..." >&2
cargo build --release --quiet --example bench_upstream --example bench_dataplane --example bench_load
bin=target/release/examples
DATAPLANE_BIN=${DATAPLANE_BIN:-$bin/bench_dataplane}

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  exit 1
}

"$bin/bench_upstream" "$UPSTREAM" 2>"$work/upstream.log" &
pids+=($!)
"$DATAPLANE_BIN" "$HELMSMAN" "$HELMSMAN_ADMIN" "$UPSTREAM" 2>"$work/dataplane.log" &
pids+=($!)
cat >"$work/haproxy.cfg" <<CFG
global
    maxconn 4096
    nbthread 2
defaults
    mode http
    option http-keep-alive
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend bench
    bind $HAPROXY
    default_backend upstream
backend upstream
    http-reuse always
    server s1 $UPSTREAM
CFG
haproxy -f "$work/haproxy.cfg" -db 2>"$work/haproxy.log" &
pids+=($!)
for p in "$UPSTREAM" "$HELMSMAN" "$HAPROXY"; do wait_port "$p"; done

# Prints "requests/s p99_ms" for one wrk run against $1.
throughput() {
  local out rps p99 value unit
  wrk -t1 -c4 -d1s "http://$1/" >/dev/null # warm up connections and pools
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://$1/")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
    echo "errors while measuring $1:" >&2
    echo "$out" >&2
  fi
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  read -r value unit < <(awk '$1 == "99%" {v=$2; sub(/[a-z]+$/, "", v); u=$2; sub(/^[0-9.]+/, "", u); print v, u}' <<<"$out")
  case "$unit" in
    us) p99=$(awk -v v="$value" 'BEGIN {printf "%.3f", v / 1000}') ;;
    ms) p99=$(awk -v v="$value" 'BEGIN {printf "%.3f", v}') ;;
    s) p99=$(awk -v v="$value" 'BEGIN {printf "%.3f", v * 1000}') ;;
    *) p99=nan ;;
  esac
  echo "$rps $p99"
}

# Prints "achieved_rps p50 p99 p99.9 max requests errors" (ms) for one
# fixed-rate run against $1 at $2 requests/s.
latency() {
  local out
  out=$("$bin/bench_load" "http://$1/" "$2" "$LATENCY_SECONDS" "$LATENCY_CONNECTIONS" 2)
  if [ "$(awk '{print $7}' <<<"$out")" != 0 ]; then
    echo "errors while measuring $1 at $2 requests/s: $out" >&2
  fi
  echo "$out"
}

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
# median FILE COLUMN
col() { awk -v c="$2" '{print $c}' "$1" | median; }

paths=(direct helmsman haproxy)
declare -A addr=([direct]=$UPSTREAM [helmsman]=$HELMSMAN [haproxy]=$HAPROXY)
for round in $(seq "$ROUNDS"); do
  echo "round $round/$ROUNDS: throughput ..." >&2
  for path in "${paths[@]}"; do throughput "${addr[$path]}" >>"$work/tp-$path"; done
  for rate in $RATES; do
    echo "round $round/$ROUNDS: latency at $rate requests/s ..." >&2
    for path in "${paths[@]}"; do latency "${addr[$path]}" "$rate" >>"$work/lat-$rate-$path"; done
  done
done

haproxy_name="HAProxy $(haproxy -v | awk 'NR==1 {print $3}')"
declare -A label=([direct]="direct to upstream" [helmsman]="helmsman data plane" [haproxy]="$haproxy_name")
machine="$(nproc) CPU(s) shared by the load tool, the proxy and the upstream; load average $LOAD_BEFORE before the run"

echo
echo "Throughput: wrk -t$THREADS -c$CONNECTIONS -d$DURATION (closed loop, saturating), median of $ROUNDS interleaved rounds; $machine"
echo
printf '| %-26s | %12s | %14s | %21s |\n' "path" "requests/s" "% of HAProxy" "p99 saturated (ms)"
printf '|%s|%s|%s|%s|\n' "----------------------------" "--------------" "----------------" "-----------------------"
haproxy_rps=$(col "$work/tp-haproxy" 1)
for path in "${paths[@]}"; do
  rps=$(col "$work/tp-$path" 1)
  printf '| %-26s | %12.0f | %13.0f%% | %21.3f |\n' "${label[$path]}" "$rps" \
    "$(awk -v a="$rps" -v b="$haproxy_rps" 'BEGIN {print 100 * a / b}')" "$(col "$work/tp-$path" 2)"
done
helmsman_rps=$(col "$work/tp-helmsman" 1)

echo
echo "Added latency: examples/bench_load.rs, open loop at a fixed rate, $LATENCY_CONNECTIONS connections, ${LATENCY_SECONDS}s after a 2s warm-up, median of $ROUNDS interleaved rounds; $machine"
echo
printf '| %-26s | %10s | %9s | %9s | %11s | %15s |\n' "path" "rate (r/s)" "p50 (ms)" "p99 (ms)" "p99.9 (ms)" "p99 over direct"
printf '|%s|%s|%s|%s|%s|%s|\n' "----------------------------" "------------" "-----------" "-----------" "-------------" "-----------------"
for rate in $RATES; do
  direct_p99=$(col "$work/lat-$rate-direct" 3)
  for path in "${paths[@]}"; do
    f="$work/lat-$rate-$path"
    p99=$(col "$f" 3)
    printf '| %-26s | %10.0f | %9.3f | %9.3f | %11.3f | %12.3f ms |\n' "${label[$path]}" "$(col "$f" 1)" \
      "$(col "$f" 2)" "$p99" "$(col "$f" 4)" "$(awk -v a="$p99" -v b="$direct_p99" 'BEGIN {print a - b}')"
  done
done

echo
awk -v h="$helmsman_rps" -v x="$haproxy_rps" 'BEGIN {
  ratio = 100 * h / x
  printf "helmsman: %.0f %% of HAProxy requests/s (target >= 80 %%): %s\n", ratio, (ratio >= 80 ? "met" : "MISSED")
}'
for rate in $RATES; do
  awk -v r="$rate" -v h="$(col "$work/lat-$rate-helmsman" 3)" -v d="$(col "$work/lat-$rate-direct" 3)" \
    -v x="$(col "$work/lat-$rate-haproxy" 3)" 'BEGIN {
    added = h - d
    printf "helmsman: adds %.3f ms at p99 at %d requests/s (target < 1 ms): %s (HAProxy adds %.3f ms)\n", added, r, (added < 1 ? "met" : "MISSED"), x - d
  }'
done
