#!/usr/bin/env bash
# The blast-radius benchmark (a measurement, not a test): how many requests
# fail on a bad canary before it is rolled back, and how often a good one is
# rolled back by mistake — helmsman's statistical triggers beside two
# policies configured like Flagger's (relative thresholds, and Flagger's
# built-in metrics), all judging the same simulated traffic. Builds and runs
# examples/blast_radius/ in release mode and writes docs/blast-radius.md: a
# header saying how to reproduce it, what is simulated and what is compared,
# then the program's report, family by family, cell by cell.
#
# Environment: RUNS (200) runs per cell in the first-step, late-onset and
# spikes families; HEALTHY_RUNS (2000) runs per cell in the healthy family;
# SEED (1); ONLY (empty: every family) a comma-separated list of families
# among first-step, healthy, late-onset, spikes; OUT (docs/blast-radius.md)
# the file written. The simulation is seeded: the same seed and run counts
# give the same tables (only the wall times differ), and a family's tables do
# not depend on which other families run with it.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-200}
HEALTHY_RUNS=${HEALTHY_RUNS:-2000}
SEED=${SEED:-1}
ONLY=${ONLY:-}
OUT=${OUT:-docs/blast-radius.md}
args=(--runs "$RUNS" --healthy-runs "$HEALTHY_RUNS" --seed "$SEED")
env_line="RUNS=$RUNS HEALTHY_RUNS=$HEALTHY_RUNS SEED=$SEED"
if [[ -n $ONLY ]]; then
  args+=(--only "$ONLY")
  env_line="$env_line ONLY=$ONLY"
fi

echo "building the release example ..." >&2
cargo build --release --quiet --example blast_radius
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# Into a temporary file first: a failed run leaves the last report alone.
report=$(mktemp)
trap 'rm -f "$report"' EXIT
cargo run --release --quiet --example blast_radius -- "${args[@]}" >"$report"
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

{
  cat <<HEADER
# Blast radius of a bad canary

How many requests fail on a bad canary before it is rolled back, and how
often a good one is rolled back by mistake, with helmsman's statistical
triggers and with two policies configured like Flagger's, all judging the
same simulated traffic. A program, not a test. This file is generated;
reproduce it with

\`\`\`sh
$env_line scripts/bench-blast-radius.sh
# or, for the report alone:
cargo run --release --example blast_radius -- ${args[*]}
\`\`\`

The same seed and run counts give the same tables; only the wall times
differ. Each family can be re-run alone (\`ONLY=late-onset\`, or
\`--only late-onset\`) and gives the same tables as in the full report.

## What is simulated

- Virtual time, seeded; every run's stream depends only on the seed, its
  family, its cell and its number. Total traffic R requests/s split between
  the baseline (stable) and the new version by the canary weight w.
- Before the canary's weight is applied the stable version served all R
  requests/s for 10 minutes: the baseline's counters start with that
  traffic, as a metrics source's counters do when a release starts
  (helmsman's error-rate detector bounds the baseline over it; the
  comparison policies judge windows and never see it).
- Per second and per version: requests ~ Poisson, errors ~ Binomial,
  latencies binned over the data plane's histogram buckets as a multinomial
  (conditional binomials) from a lognormal: baseline median 50 ms, sigma
  0.5. Every error is \`http_500\` on both sides, so the new-error-kind
  trigger never has a kind to judge. Seconds in which nothing changes are
  drawn together, as one draw with the rates summed (the same
  distributions); every reading any policy asks for is exact at its second.
- The new version behaves exactly like the baseline except during its
  fault, [start, end): its error rate is the baseline's plus a delta and
  its latencies are the baseline's times a factor. The baseline's error
  rate is a per-cell parameter. The backend always reports every instance
  healthy.
- Blast radius: failed requests on the new version up to the rollback
  decision, or to the horizon when there is none (the new version's
  baseline-rate errors included).

The families, each reported cell by cell:

- **first-step**: the fault is there from the onset (the moment weight w is
  applied) for good; 10-minute horizon. R 10, 100, 1000 x w 5, 10, 25 % x
  +0, +1, +5, +10, +20 points x latency x1, x1.5, x2, x3; baseline 0.1 %.
- **healthy**: 30-minute releases of a new version as good as the baseline
  (+0) or +2.5 points worse (the tolerated edge), latency x1. Baseline 0.1,
  1, 5 % x R 10, 100, 1000 x w 5, 10, 50 %. The share rolled back by 2, 10
  and 30 minutes; a rollback by minute 2 of a 30-minute run is the decision
  a 2-minute release would take (the engine's judgement does not depend on
  the plan's length).
- **late-onset**: the new version (w 10 %, baseline 0.1 %) is healthy, then
  regresses for good: +10 points of errors from 0, 300 or 1200 s, or a x2
  p95 from 300 or 900 s; R 10, 100, 1000; horizon 10 minutes after the
  onset. Times and failed requests are counted from the onset; rollbacks
  before it are false rollbacks.
- **spikes**: latency x3 for 60 s, or for 3 minutes, from 180 s; then the
  baseline's again. R 100, 1000, w 10 %, baseline 0.1 %, 10-minute horizon.

## The policies compared

- **helmsman**: the engine's real release state machine
  (\`engine::machine::Release\`) runs a canary \`[Weight(w), Pause(horizon)]\`
  with the default analysis and triggers (their values are in the Run
  section below); its effects are answered as a healthy backend and a
  metrics provider would, in virtual time. The run's decision is the
  machine starting its rollback; "by" is the trigger its verdict names.
- **threshold-only**, as Flagger's defaults configure an analysis: a check
  every 60 s over the last 60 s; a check fails when the new error rate is
  more than 5 points over the baseline's or the new p95 more than twice the
  baseline's (\`Sample::p95_ms\`); the 5th failed check (cumulative, like
  Flagger's \`failedChecks\`) rolls back. No minimum sample; a window without
  requests on the new version does not fail.
- **Flagger built-ins**: the same cadence (60 s x 5 failed checks) with
  Flagger's built-in metrics and their usual limits, absolute rather than
  relative to the baseline: a check fails when the new version's
  request-success-rate over the last 60 s is under 99 %, or its
  request-duration p99 (\`LatencyHistogram::quantile_ms(0.99)\`) over 500 ms.
  A window without requests on the new version does not fail.

HEADER
  cat "$report"
} >"$OUT"
echo "wrote $OUT" >&2
