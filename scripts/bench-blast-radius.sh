#!/usr/bin/env bash
# The blast-radius benchmark (a measurement, not a test): how many requests
# fail on a bad canary before it is rolled back, helmsman's statistical
# triggers against a threshold-only policy configured like Flagger's
# defaults. Builds and runs examples/blast_radius.rs in release mode and
# writes docs/blast-radius.md: a header saying how to reproduce it, what is
# simulated and what is compared, then the program's report.
#
# Environment: RUNS (200) runs per cell, HEALTHY_RUNS (1000) runs in the
# healthy cells (+0 points, x1), SEED (1). The simulation is seeded: the same
# seed and run counts give the same tables (only the wall time differs).
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-200}
HEALTHY_RUNS=${HEALTHY_RUNS:-1000}
SEED=${SEED:-1}
OUT=docs/blast-radius.md
args=(--runs "$RUNS" --healthy-runs "$HEALTHY_RUNS" --seed "$SEED")

echo "building the release example ..." >&2
cargo build --release --quiet --example blast_radius
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# Into a temporary file first: a failed run leaves the last report alone.
report=$(mktemp)
trap 'rm -f "$report"' EXIT
cargo run --release --quiet --example blast_radius -- "${args[@]}" >"$report"

{
  cat <<HEADER
# Blast radius of a bad canary

How many requests fail on a bad canary before it is rolled back, with
helmsman's statistical triggers and with a threshold-only policy configured
like Flagger's defaults, both judging the same simulated traffic. A program,
not a test. This file is generated; reproduce it with

\`\`\`sh
RUNS=$RUNS HEALTHY_RUNS=$HEALTHY_RUNS SEED=$SEED scripts/bench-blast-radius.sh
# or, for the report alone:
cargo run --release --example blast_radius -- ${args[*]}
\`\`\`

The same seed and run counts give the same tables; only the wall time differs.

## What is simulated

- Virtual time, 1-second slots, seeded. Total traffic R requests/s (10, 100,
  1000) split between the baseline (stable) and the new version by the canary
  weight w (5, 10, 25 %).
- Per slot and per version: requests ~ Poisson, errors ~ Binomial, latencies
  binned over the data plane's histogram buckets as a multinomial (conditional
  binomials) from a lognormal: baseline median 50 ms, sigma 0.5; the new
  version's latencies are the baseline's times a factor (x1, x1.5, x2, x3).
- Error rates: baseline 0.1 %, new version 0.1 % plus a delta (+0, +1, +5,
  +10, +20 points). Every error is \`http_500\` on both sides.
- The fault is there from the onset: the moment weight w is applied. A run
  ends at a policy's rollback decision or at the 10-minute horizon. The
  backend always reports every instance healthy.
- Blast radius: failed requests on the new version from the onset to the
  rollback decision, or to the horizon when there is none (the new version's
  0.1 % baseline errors included).

## The policies compared

- **helmsman**: the engine's real release state machine
  (\`engine::machine::Release\`) runs a canary \`[Weight(w), Pause(10 min)]\`
  with the default analysis (a reading every 10 s, at least 100 requests,
  99 % confidence, tolerance 0.5) and the default triggers (error rate +5
  points at once, p95 x2 after 2 min, unhealthy instances > 10 % at once, new
  error kind > 1 % after 5 min). The run's decision is the machine starting
  its rollback; "by" is the trigger its verdict names.
- **threshold-only**, as Flagger's defaults configure an analysis: a check
  every 60 s over the last 60 s; a check fails when the new error rate is
  more than 5 points over the baseline's or the new p95 more than twice the
  baseline's (\`Sample::p95_ms\`); the 5th failed check (cumulative, like
  Flagger's \`failedChecks\`) rolls back. No minimum sample; a window without
  requests on the new version does not fail.

HEADER
  cat "$report"
} >"$OUT"
echo "wrote $OUT" >&2
