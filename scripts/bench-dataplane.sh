#!/usr/bin/env bash
# Benchmark of the embedded data plane (a measurement, not a test).
#
# Measures requests/s and p99 latency with the same load tool and settings:
#   1. direct to a small fast upstream (examples/bench_upstream.rs),
#   2. through helmsman's data plane (examples/bench_dataplane.rs),
#   3. through HAProxy (Debian's package, mode http, keep-alive).
# Targets (issue 2): helmsman adds < 1 ms at p99 over direct, and sustains
# >= 80 % of HAProxy's requests/s.
#
# Environment: THREADS (2), CONNECTIONS (32), DURATION (10s), ROUNDS (3).
set -euo pipefail

cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
LOAD_BEFORE=$(cut -d" " -f1-3 /proc/loadavg)
UPSTREAM=127.0.0.1:18080
HELMSMAN=127.0.0.1:18081
HELMSMAN_ADMIN=127.0.0.1:18091
HAPROXY=127.0.0.1:18082

need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "installing $2 ..." >&2
    if [ "$(id -u)" = 0 ]; then apt-get install -y "$2"; else sudo apt-get install -y "$2"; fi
  fi
}
need wrk wrk
need haproxy haproxy

echo "building release examples ..." >&2
cargo build --release --quiet --example bench_upstream --example bench_dataplane

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

target/release/examples/bench_upstream "$UPSTREAM" 2>"$work/upstream.log" &
pids+=($!)
target/release/examples/bench_dataplane "$HELMSMAN" "$HELMSMAN_ADMIN" "$UPSTREAM" 2>"$work/dataplane.log" &
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
measure() {
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

# Rounds are interleaved (direct, helmsman, HAProxy, direct, ...) so a
# burst of load from elsewhere on the machine hits every path alike; each
# figure is the median over the rounds.
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
for round in $(seq "$ROUNDS"); do
  echo "round $round/$ROUNDS ..." >&2
  measure "$UPSTREAM" >>"$work/direct"
  measure "$HELMSMAN" >>"$work/helmsman"
  measure "$HAPROXY" >>"$work/haproxy"
done
for path in direct helmsman haproxy; do
  printf -v "${path}_rps" '%s' "$(awk '{print $1}' "$work/$path" | median)"
  printf -v "${path}_p99" '%s' "$(awk '{print $2}' "$work/$path" | median)"
done

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, median of $ROUNDS interleaved rounds, $(nproc) CPU(s), load average $LOAD_BEFORE before the run"
echo
printf '| %-26s | %12s | %9s | %16s |\n' "path" "requests/s" "p99 (ms)" "p99 over direct"
printf '|%s|%s|%s|%s|\n' "----------------------------" "--------------" "-----------" "------------------"
row() { printf '| %-26s | %12.0f | %9.3f | %13.3f ms |\n' "$1" "$2" "$3" "$(awk -v a="$3" -v b="$direct_p99" 'BEGIN {print a - b}')"; }
row "direct to upstream" "$direct_rps" "$direct_p99"
row "helmsman data plane" "$helmsman_rps" "$helmsman_p99"
row "HAProxy $(haproxy -v | awk 'NR==1 {print $3}')" "$haproxy_rps" "$haproxy_p99"
echo
awk -v h="$helmsman_rps" -v x="$haproxy_rps" -v hp="$helmsman_p99" -v dp="$direct_p99" 'BEGIN {
  ratio = 100 * h / x; added = hp - dp
  printf "helmsman: %.0f %% of HAProxy requests/s (target >= 80 %%): %s\n", ratio, (ratio >= 80 ? "met" : "MISSED")
  printf "helmsman: adds %.3f ms at p99 (target < 1 ms): %s\n", added, (added < 1 ? "met" : "MISSED")
}'
