// A second reporter for `npm test`: it writes each file's time in tests (the sum of its top-level
// suites, so module loading is not counted) to TEST_DURATIONS_FILE as it goes, one JSON line per
// suite; scripts/run-tests.mjs prints the slowest files after the run. It writes as it goes because
// `--test-force-exit` ends the runner before a reporter's stream would end.
import { appendFileSync } from 'node:fs';

/** Node's test runner hands a reporter the stream of test events; this one yields nothing. */
export default async function* durations(source) {
  const out = process.env.TEST_DURATIONS_FILE;
  for await (const event of source) {
    if (out && (event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0 && event.data.file) {
      appendFileSync(out, `${JSON.stringify({ file: event.data.file, ms: event.data.details?.duration_ms ?? 0 })}\n`);
    }
  }
  yield '';
}
