#!/usr/bin/env bash
# Whether notifications slow a release (a measurement, not a test): the
# headless demo's release (checkout through dev → staging → prod, real data
# planes, sample services and load on loopback) run with no [[notify]]
# target, then with a webhook target that answers at once, one that answers
# after 2 s, one that answers 500 and one that never answers, every event
# sent. For each run: the release's duration (its first event to its last)
# and the command's wall time (which includes up to 5 s at exit for the
# messages still queued). Per-run lines go to stderr, the table to stdout.
#
# Environment: RUNS (3) runs per receiver.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
work=$(mktemp -d)
trap 'kill "$receiver" 2>/dev/null || true; rm -rf "$work"' EXIT

echo "building the release binary ..." >&2
cargo build --release --quiet --bin helmsman

# A receiver on loopback: /ok answers at once, /slow after 2 s, /fail 500,
# /hang never.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$port" <<'PY' &
import http.server, socketserver, sys, time
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/hang":
            time.sleep(3600)
        if self.path == "/slow":
            time.sleep(2)
        self.send_response(500 if self.path == "/fail" else 200)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
receiver=$!
sleep 0.5

printf '%-9s %4s  %-34s  %s\n' receiver runs "release duration s (each run)" "command wall time s (each run)"
for mode in none ok slow fail hang; do
  config="$work/demo-$mode.toml"
  cp assets/demo.toml "$config"
  if [ "$mode" != none ]; then
    cat >> "$config" <<TOML

[[notify]]
name = "measured"
type = "webhook"
url = "http://127.0.0.1:$port/$mode"
events = ["started", "waiting", "step", "rolled-back", "succeeded", "failed", "check-failed", "alert"]
timeout = "5s"
retries = 3
TOML
  fi
  durations=() walls=()
  for run in $(seq "$RUNS"); do
    start=$(date +%s.%N)
    target/release/helmsman demo --headless --config "$config" --output json > "$work/out.jsonl" 2> "$work/err.txt" || true
    end=$(date +%s.%N)
    duration=$(python3 - "$work/out.jsonl" <<'PY'
import json, sys
from datetime import datetime
ats = []
for line in open(sys.argv[1]):
    try:
        event = json.loads(line)
    except ValueError:
        continue
    if "at" in event:
        ats.append(datetime.fromisoformat(event["at"][:26] + "+00:00"))
print(f"{(max(ats) - min(ats)).total_seconds():.2f}" if ats else "-")
PY
)
    wall=$(python3 -c "print(f'{$end - $start:.2f}')")
    echo "$mode run $run: release ${duration} s, command ${wall} s, $(grep -c 'not delivered' "$work/err.txt" || true) failures shown" >&2
    durations+=("$duration") walls+=("$wall")
  done
  printf '%-9s %4s  %-34s  %s\n' "$mode" "$RUNS" "${durations[*]}" "${walls[*]}"
done
