// Evaluates flag files with flagd's own in-process evaluator
// (@openfeature/flagd-core), for tests/flagd_evaluator.rs.
//
//   node evaluate.js KEYS FILE...
//
// For each file, one JSON line: the variant of flag `new-ranking` for
// targeting keys user-0 … user-(KEYS-1) as a string of 1 (on) and 0 (off),
// the value of flag `dark-mode` for the same keys (first letters), and the
// variant of `new-ranking` for the cohort's key `alice`.
const { FlagdCore } = require(process.env.FLAGD_CORE);

const quiet = { error() {}, warn() {}, info() {}, debug() {} };
const [, , count, ...files] = process.argv;
const keys = Number(count);

for (const file of files) {
  const core = new FlagdCore(undefined, quiet);
  core.setConfigurations(require('fs').readFileSync(file, 'utf8'));
  let on = '';
  let other = '';
  for (let i = 0; i < keys; i++) {
    const context = { targetingKey: `user-${i}` };
    on += core.resolveBooleanEvaluation('new-ranking', false, context, quiet).value ? '1' : '0';
    other += core.resolveStringEvaluation('dark-mode', '?', context, quiet).value[0];
  }
  const alice = core.resolveBooleanEvaluation('new-ranking', false, { targetingKey: 'alice' }, quiet).value;
  console.log(JSON.stringify({ file, on, other, alice }));
}
