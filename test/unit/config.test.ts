/** Server settings from flags and the environment: defaults, and a clear error naming a bad variable. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_HISTORY_DAYS, serveConfig } from '../../src/config.js';
import { isAppError } from '../../src/domain/errors.js';

describe('server settings', () => {
  it('keeps 400 days of device history unless LOCKWARDEN_HISTORY_DAYS says otherwise (0 keeps all)', () => {
    assert.equal(DEFAULT_HISTORY_DAYS, 400);
    assert.equal(serveConfig({}, {}).historyDays, 400);
    assert.equal(serveConfig({}, { LOCKWARDEN_HISTORY_DAYS: '30' }).historyDays, 30);
    assert.equal(serveConfig({}, { LOCKWARDEN_HISTORY_DAYS: '0' }).historyDays, 0);
  });

  it('names the variable that is wrong', () => {
    for (const bad of ['abc', '-1', '2.5']) {
      assert.throws(
        () => serveConfig({}, { LOCKWARDEN_HISTORY_DAYS: bad }),
        (e) => isAppError(e, 'validation.failed') && /LOCKWARDEN_HISTORY_DAYS must be a whole number of days/.test(e.message),
        bad,
      );
    }
    assert.throws(() => serveConfig({}, { DATABASE_URL: 'mysql://x' }), (e) => isAppError(e, 'validation.failed') && /DATABASE_URL must start with postgres:\/\//.test(e.message));
  });
});
