/**
 * Browser tests act as a person: the UI, and for the physical world the simulated lock's own
 * virtual panel. This guard fails when a file under test/e2e reaches around them — into the
 * simulator's out-of-band and physical hooks, the reconciler, driver objects or the database — to
 * make a journey pass. Reading a simulated lock's state to assert on it, and the network's own
 * conditions (a lock's radio going offline), stay allowed: neither does a person's part.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../../src/config.js';

const BACK_DOORS: [RegExp, string][] = [
  [/\boutOfBand\b/, "the simulator's out-of-band hooks"],
  [/\.physical\./, "the simulator's physical hooks"],
  [/\bruntime\.reconciler\b|\breconciler\.reconcile\b/, 'the reconciler'],
  [/\bruntime\.drivers\b|\bdrivers\.get\(/, 'driver objects'],
  [/\bdatabase\.db\b|\bfrom ['"][^'"]*src\/store\//, 'the database'],
];

/** The back doors one source text uses, with the line of each. */
export function backDoors(source: string): string[] {
  const found: string[] = [];
  source.split('\n').forEach((line, i) => {
    if (/^\s*(\/\/|\*)/.test(line)) return;
    for (const [re, what] of BACK_DOORS) if (re.test(line)) found.push(`line ${i + 1}: ${what}`);
  });
  return found;
}

describe('browser tests use no back doors', () => {
  it('the guard sees each kind of back door', () => {
    assert.deepEqual(backDoors('fleet().outOfBand.enrollAdmin(x)'), ["line 1: the simulator's out-of-band hooks"]);
    assert.deepEqual(backDoors('server.runtime.fleet!.physical.reset(id, { holdSeconds: 12 })'), ["line 1: the simulator's physical hooks"]);
    assert.equal(backDoors('await server.runtime.reconciler.reconcile(lock.id)').length, 1);
    assert.equal(backDoors("import { locks } from '../../src/store/schema.js';").length, 1);
    assert.deepEqual(backDoors("await page.getByTestId('sim-reset-button').click();\n// not fleet().physical.reset(...)\nfleet().get(id).pins"), []);
  });

  const dir = path.join(PACKAGE_ROOT, 'test', 'e2e');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    it(`${file} reaches the lock only through the UI and its panel`, () => {
      assert.deepEqual(backDoors(readFileSync(path.join(dir, file), 'utf8')), [], file);
    });
  }
});
