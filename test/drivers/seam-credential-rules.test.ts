/**
 * The credential service on a Seam lock whose device declares code rules (a Nuki: 6 digits, no 0,
 * not starting with 12, short names), against Seam's own fake: a code or name the lock cannot take
 * is refused with a validation error naming the rule before anything is stored or sent, and
 * generated codes obey the rules. A lock that can be locked but not unlocked is operated per action.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { isAppError } from '../../src/domain/errors.js';
import type { Actor } from '../../src/domain/identity.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { credentials } from '../../src/store/schema.js';
import { testServices, type TestEnv } from '../helpers/db.js';
import { SEAM_SHAPES, startFakeSeam, type FakeSeam } from './seam-peer.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

describe('credential service on Seam locks with device code rules', () => {
  let env: TestEnv;
  let seam: FakeSeam;
  let nukiId = '';
  let lockOnlyId = '';
  const seamRequests: string[] = [];
  const count = (req: http.IncomingMessage) => seamRequests.push(`${req.method} ${req.url?.split('?')[0]}`);

  before(async () => {
    [env, seam] = await Promise.all([testServices('pglite'), startFakeSeam()]);
    seam.addShapes();
    await loadDemoFleet(env.services.ctx);
    const unitId = (await env.services.locations.list(SYSTEM)).find((l) => l.kind === 'unit')!.id;
    const ws = await env.services.integrations.create(SYSTEM, { driver: 'seam', name: 'Seam workspace', config: { endpoint: seam.url }, secret: seam.apiKey });
    assert.equal(ws.running, true, ws.error ?? '');
    nukiId = (await env.services.integrations.adopt(SYSTEM, ws.id, { externalId: SEAM_SHAPES.nuki, locationId: unitId, name: 'Nuki (Seam)' })).id;
    lockOnlyId = (await env.services.integrations.adopt(SYSTEM, ws.id, { externalId: SEAM_SHAPES.lockOnly, locationId: unitId, name: 'Lock-only (Seam)' })).id;
    seam.server.on('request', count);
  });
  after(async () => {
    seam.server.off('request', count);
    await env.close();
    await seam.close();
  });

  const rows = async () => (await env.database.db.select().from(credentials)).length;
  const codeWrites = () => seamRequests.filter((r) => /\/access_codes\/(create|update|delete)$/.test(r));

  it('refuses a code or name the lock cannot take, naming the rule, storing and sending nothing', async () => {
    const before = await rows();
    seamRequests.length = 0;
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ holder: 'Ada', code: '305678' }, 'code', /this lock refuses the digit 0 in a code/],
      [{ holder: 'Ada', code: '123456' }, 'code', /this lock refuses codes that start with 12/],
      [{ holder: 'Ada', code: '34567' }, 'code', /this lock takes codes of 6 digits/],
      [{ holder: 'Housekeeping, 2nd floor east', code: '345679' }, 'holder', /this lock keeps names of at most 15 characters/],
      [{ holder: 'Ada', length: 8 }, 'length', /this lock takes codes of 6 digits/],
    ];
    for (const [input, field, rule] of cases) {
      await assert.rejects(
        env.services.credentials.addPin(SYSTEM, nukiId, input),
        (e: unknown) => isAppError(e, 'validation.failed') && e.fields.some((f) => f.path === field && rule.test(f.message)) && rule.test(e.message),
        JSON.stringify(input),
      );
    }
    await env.runtime.reconciler.reconcile(nukiId, { read: false });
    assert.equal(await rows(), before, 'nothing stored');
    assert.deepEqual(codeWrites(), [], 'nothing sent to Seam');
  });

  it('generates only codes the lock’s rules allow, and they reach the lock', async () => {
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await env.services.credentials.addPin(SYSTEM, nukiId, { holder: `Guest ${i}` })).code);
    for (const c of made) {
      assert.match(c, /^[1-9]{6}$/, `${c}: six digits, no zero`);
      assert.ok(!c.startsWith('12'), c);
    }
    await env.runtime.reconciler.reconcile(nukiId, { read: false });
    const onLock = seam.db.getState().access_codes.filter((c) => c.device_id === SEAM_SHAPES.nuki);
    assert.deepEqual(onLock.map((c) => c.code).sort(), [...made].sort());
    assert.ok(onLock.every((c) => /^#\d+ Guest \d$/.test(c.name)), 'names carry the short slot tag');
  });

  it('locks a lock that cannot be unlocked remotely, and refuses only the unlock', async () => {
    const { bolt } = await env.services.credentials.operate(SYSTEM, lockOnlyId, 'lock');
    assert.equal(bolt, 'locked');
    await assert.rejects(env.services.credentials.operate(SYSTEM, lockOnlyId, 'unlock'), (e: unknown) => isAppError(e, 'device.not_supported') && /cannot be unlocked remotely/.test((e as Error).message));
  });
});
