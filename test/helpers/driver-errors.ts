/** Shared assertions on driver errors for the driver suites. */
import assert from 'node:assert/strict';
import { isDriverError } from '../../src/drivers/contract.js';

/** Asserts `p` rejects with a DriverError of `code` (and, when given, a message matching `message`). */
export async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e) => {
    assert.ok(isDriverError(e), String(e));
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}
