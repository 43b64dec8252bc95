/**
 * Throttle counters in the database, on every engine: concurrent takes on one key are serialised by
 * the row lock (exactly the allowance gets through a burst), refusals count nothing, and sign-in
 * attempts are counted before the password is checked.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { REVEAL_POLICY } from '../../src/domain/throttle.js';
import { ACCOUNT_SIGN_IN_POLICY } from '../../src/services/sign-in-throttle.js';
import { Throttle } from '../../src/services/throttle.js';
import { ThrottleRepository } from '../../src/store/throttle-repository.js';
import { ENGINES, testServices, type TestEnv } from '../helpers/db.js';

for (const engine of ENGINES) {
  describe(`throttle counters on ${engine}`, () => {
    let env: TestEnv;
    before(async () => {
      env = await testServices(engine);
    });
    after(() => env.close());

    it('a burst of 40 concurrent reveals lets exactly the free 10 through', async () => {
      const throttle = new Throttle(env.services.ctx);
      const results = await Promise.all(Array.from({ length: 40 }, () => throttle.take([{ key: 'reveal:user:burst', policy: REVEAL_POLICY }])));
      assert.equal(results.filter((r) => r.allowed).length, REVEAL_POLICY.free);
      const state = await new ThrottleRepository(env.services.ctx.db).get('reveal:user:burst');
      assert.equal(state?.count, REVEAL_POLICY.free, 'refused takes are not counted');
    });

    it('a burst of 300 parallel sign-in guesses gets at most 100 checked, wherever it comes from', async () => {
      await env.services.auth.createUser({ kind: 'system', name: 'bootstrap' }, { email: 'burst@example.test', displayName: 'B', role: 'technician', password: 'burst burst password 1' });
      // Delays are skipped by moving the clock far ahead between waves; the cap is what is tested.
      let checked = 0;
      for (let wave = 0; wave < 10; wave++) {
        const outcomes = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => env.services.auth.signIn({ email: 'burst@example.test', password: `wrong ${wave}-${i}` }, `10.9.${wave}.${i}`)));
        checked += outcomes.filter((o) => o.status === 'rejected' && (o.reason as { code?: string }).code === 'auth.invalid_credentials').length;
        env.clock.advance(3600_000);
      }
      assert.ok(checked <= ACCOUNT_SIGN_IN_POLICY.cap, `checked ${checked}`);
      const state = await new ThrottleRepository(env.services.ctx.db).get('sign-in:account:burst@example.test');
      assert.ok(state && state.capCount <= ACCOUNT_SIGN_IN_POLICY.cap);
    });

    it('clearing forgets a key', async () => {
      const throttle = new Throttle(env.services.ctx);
      await throttle.take([{ key: 'x', policy: REVEAL_POLICY }]);
      await throttle.clear(['x']);
      assert.equal(await new ThrottleRepository(env.services.ctx.db).get('x'), null);
    });
  });
}
