/**
 * A bulk change asks its locks' capabilities several at a time: each ask is a round trip to the
 * lock's driver, and asked one after another they held a 10,000-lock change up for over a minute.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seedTurnoverFleet, turnoverChange } from '../../bench/fleet.js';
import type { SimCapabilities } from '../../src/drivers/simulator/lock-spec.js';
import { SimFleet } from '../../src/drivers/simulator/index.js';
import type { Actor } from '../../src/domain/identity.js';
import { TEST_SECRETS, testServices } from '../helpers/db.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

/** A simulator whose capability answers take 20 ms, counting how many are asked at once. */
class SlowCapabilities extends SimFleet {
  inFlight = 0;
  most = 0;
  asked = 0;
  override async capabilities(externalId: string): Promise<SimCapabilities> {
    this.asked++;
    this.most = Math.max(this.most, ++this.inFlight);
    try {
      await new Promise((r) => setTimeout(r, 20));
      return await super.capabilities(externalId);
    } finally {
      this.inFlight--;
    }
  }
}

describe('bulk change', () => {
  it('asks the capabilities of its locks several at a time, each once, and plans every lock', async () => {
    const fleet = new SlowCapabilities();
    const env = await testServices('pglite', { fleet });
    try {
      const seeded = await seedTurnoverFleet(env.database, env.services, TEST_SECRETS, { locks: 60, hubSize: 10, name: 'Bulk' });
      seeded.provision(fleet);
      fleet.asked = 0;
      const bulk = await env.services.credentials.bulkChange(SYSTEM, turnoverChange(seeded.siteId, 'bulk test'));
      assert.equal(bulk.total, 60 * 4, 'two PINs revoked and two issued on each lock');
      assert.equal(bulk.failed, 0);
      assert.equal(fleet.asked, 60, 'one ask per lock');
      assert.ok(fleet.most > 1 && fleet.most <= 16, `asks in flight at once: ${fleet.most}`);
      assert.equal(new Set(env.queued.map((q) => q.lockId)).size, 60, 'a job for every lock');
    } finally {
      await env.close();
    }
  });
});
