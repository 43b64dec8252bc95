/**
 * The reset handbook below HTTP, on every engine the storage suites use: the starter catalogue on the
 * demo fleet, revisions and conflicts, diffs, verification windows, search with typos, the table of
 * contents, and secrets under envelope encryption (tamper, rotation, reveal records).
 */
import assert from 'node:assert/strict';
import { roleActor } from '../helpers/actors.js';
import { after, before, describe, it } from 'node:test';
import { eq, sql } from 'drizzle-orm';
import { isAppError, type AppError } from '../../src/domain/errors.js';
import type { Actor, ActorGrant } from '../../src/domain/identity.js';
import type { HandbookContent, HandbookEntry } from '../../src/domain/handbook.js';
import { loadDemoFleet } from '../../src/services/demo-fleet.js';
import { dataKeys, handbookEntries, handbookRevisions, handbookSecrets, secretReveals } from '../../src/store/schema.js';
import { ENGINES, testServices, type TestEnv } from '../helpers/db.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
const TECH: Actor = roleActor('technician', { userId: '00000000-0000-4000-8000-000000000001', email: 'tech@example.test' });
const AUDITOR: Actor = roleActor('auditor', { userId: '00000000-0000-4000-8000-000000000002', email: 'audit@example.test' });
const DAY = 86_400_000;

async function rejects(p: Promise<unknown>, code: string): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isAppError(e), `expected AppError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

for (const engine of ENGINES) {
  describe(`handbook (${engine})`, () => {
    let env: TestEnv;
    let entries: Map<string, HandbookEntry>;
    const count = async (table: typeof handbookEntries | typeof handbookRevisions | typeof handbookSecrets | typeof secretReveals) =>
      Number((await env.database.db.select({ n: sql<number>`count(*)::int` }).from(table))[0]!.n);

    before(async () => {
      env = await testServices(engine);
      await loadDemoFleet(env.services.ctx);
      entries = new Map();
      for (const s of await env.services.handbook.list(SYSTEM)) entries.set(s.modelNumber, await env.services.handbook.get(SYSTEM, s.id));
    });
    after(() => env.close());

    const hb = () => env.services.handbook;
    const entry = (model: string) => entries.get(model)!;

    it('loads the starter catalogue for every demo model, each marked generic with a confirm warning', async () => {
      assert.equal(entries.size, 9);
      const db100 = entry('DB-100');
      assert.equal(db100.generic, true);
      assert.equal(db100.revision, 1);
      assert.equal(db100.status, 'never_verified');
      assert.match(db100.content.warnings[0]!.text, /confirm .* manufacturer's instructions/);
      const hold = db100.content.steps.find((s) => s.kind === 'hold');
      assert.equal(hold?.seconds, 15, 'deadbolt: hold the interior button until the light flashes');
      assert.equal(entry('CB-1').content.estimatedMinutes, 10);
      assert.ok(!entry('CB-1').content.steps.some((s) => s.kind === 'hold'), 'app-controlled: no physical hold');
      assert.ok(entry('SC-10').content.steps.some((s) => /mechanical override/.test(s.text)));
    });

    it('saves revisions with author and reason; a stale save is a conflict; old revisions never change', async () => {
      const e = entry('KP-50');
      const before = await count(handbookRevisions);
      const content: HandbookContent = { ...e.content, title: 'KP-50 factory reset', generic: false };
      const saved = await hb().save(SYSTEM, e.id, { content, reason: 'confirmed with the manual', expectedRevision: 1 });
      assert.equal(saved.revision, 2);
      assert.equal(saved.title, 'KP-50 factory reset');
      assert.equal(saved.lastRevision.reason, 'confirmed with the manual');
      assert.equal(saved.lastRevision.authorLabel, 'local-cli');
      await rejects(hb().save(SYSTEM, e.id, { content: { ...content, title: 'lost update' }, reason: 'stale copy', expectedRevision: 1 }), 'handbook.revision_conflict');
      assert.equal(await count(handbookRevisions), before + 1, 'the refused save wrote nothing');
      const first = await hb().revision(SYSTEM, e.id, 1);
      assert.equal(first.content.title, e.content.title, 'revision 1 is as it was saved');
      const list = await hb().revisions(SYSTEM, e.id);
      assert.deepEqual(list.map((r) => r.revision), [2, 1]);
      await rejects(hb().revision(SYSTEM, e.id, 9), 'handbook.revision_not_found');
    });

    it('needs a reason and handbook.write to save', async () => {
      const e = entry('KP-80C');
      const err = await rejects(hb().save(SYSTEM, e.id, { content: e.content, expectedRevision: 1 }), 'validation.failed');
      assert.ok(err.fields.some((f) => f.path === 'reason'), JSON.stringify(err.fields));
      await rejects(hb().save(TECH, e.id, { content: e.content, reason: 'technicians do not edit', expectedRevision: 1 }), 'auth.forbidden');
    });

    it('bad content gives an error naming each field and writes nothing', async () => {
      const before = [await count(handbookEntries), await count(handbookRevisions)];
      const model = entry('DB-100');
      const err = await rejects(
        hb().create(SYSTEM, {
          modelId: model.modelId,
          lockId: null,
          content: {
            title: '',
            steps: [
              { kind: 'press', text: 'Press the button' },
              { kind: 'hold', text: 'Hold it' },
              { kind: 'jump', text: 'x' },
            ],
            resources: [{ tier: 'support', label: 'Support line' }],
          },
          reason: 'new',
        }),
        'validation.failed',
      );
      const paths = err.fields.map((f) => f.path);
      for (const p of ['content.title', 'content.steps.1.seconds', 'content.steps.2.kind', 'content.resources.0.phone']) assert.ok(paths.includes(p), `${p} in ${paths.join(', ')}`);
      assert.match(err.message, /content\.steps\.1\.seconds: say how many seconds to hold/);
      assert.deepEqual([await count(handbookEntries), await count(handbookRevisions)], before);
      await rejects(hb().create(SYSTEM, { modelId: model.modelId, content: model.content }), 'handbook.duplicate');
    });

    it('computes diffs between any two revisions, field by field and step by step', async () => {
      const e = entry('DB-220W');
      const steps = [...e.content.steps];
      steps[1] = { ...steps[1]!, text: 'Press and hold the interior reset button for 12 seconds until the light flashes green.', seconds: 12 };
      steps.splice(3, 0, { kind: 'verify', text: 'Check the light is green.' });
      const r2 = await hb().save(SYSTEM, e.id, { content: { ...e.content, steps, estimatedMinutes: 8 }, reason: 'timing from the manual', expectedRevision: 1 });
      const r3 = await hb().save(SYSTEM, e.id, { content: { ...r2.content, title: 'DB-220W reset' }, reason: 'title', expectedRevision: 2 });
      const d = await hb().diff(SYSTEM, e.id, 1, 2);
      assert.deepEqual(d.fields.map((f) => f.field), ['estimatedMinutes']);
      const changed = d.steps.find((s) => s.op === 'changed');
      assert.ok(changed && changed.op === 'changed');
      assert.equal(changed.before, 2);
      assert.deepEqual(changed.fields.map((f) => f.field).sort(), ['seconds', 'text']);
      assert.ok(changed.fields.find((f) => f.field === 'text')!.text!.some((c) => c.added && /green/.test(c.value)));
      const added = d.steps.filter((s) => s.op === 'added');
      assert.equal(added.length, 1);
      assert.equal(added[0]!.op === 'added' && added[0]!.after, 4);
      const d13 = await hb().diff(SYSTEM, e.id, 1, r3.revision);
      assert.deepEqual(d13.fields.map((f) => f.field), ['title', 'estimatedMinutes']);
      assert.equal((await hb().diff(SYSTEM, e.id, 3, 3)).same, true);
    });

    it('verification: current inside the window, stale after it, listed until verified again', async () => {
      const e = entry('FP-300');
      const stale0 = await hb().needsVerification(SYSTEM);
      assert.ok(stale0.some((s) => s.id === e.id && s.status === 'never_verified'));
      await rejects(hb().verify(AUDITOR, e.id, {}), 'auth.forbidden');
      await rejects(hb().verify(TECH, e.id, { revision: 5 }), 'handbook.revision_conflict');
      const v = await hb().verify(TECH, e.id, { revision: 1, note: 'done on site' });
      assert.equal(v.status, 'current');
      assert.equal(v.verifiedBy, 'tech@example.test');
      assert.equal(v.verifiedRevision, 1);
      assert.ok(!(await hb().needsVerification(SYSTEM)).some((s) => s.id === e.id));
      env.clock.advance(179 * DAY);
      assert.equal((await hb().get(SYSTEM, e.id)).status, 'current');
      env.clock.advance(2 * DAY);
      assert.equal((await hb().get(SYSTEM, e.id)).status, 'stale');
      assert.ok((await hb().needsVerification(SYSTEM)).some((s) => s.id === e.id && s.status === 'stale'));
      assert.ok((await hb().list(SYSTEM, { status: 'stale' })).some((s) => s.id === e.id));
      // A shorter window of its own makes an entry stale sooner.
      const w = await hb().save(SYSTEM, e.id, { content: v.content, reason: 'check monthly', expectedRevision: 1, verificationWindowDays: 30 });
      await hb().verify(TECH, e.id, { revision: w.revision });
      env.clock.advance(31 * DAY);
      assert.equal((await hb().get(SYSTEM, e.id)).status, 'stale');
    });

    it('search finds words in steps and model numbers typed with typos', async () => {
      const ids = async (q: string) => (await hb().search(SYSTEM, { q })).map((h) => h.modelNumber);
      assert.ok((await ids('interior reset button')).includes('DB-100'));
      assert.ok((await ids('fingerprints enroll')).includes('FP-300'));
      assert.equal((await ids('KP80C'))[0], 'KP-80C', 'without the dash');
      assert.equal((await ids('KP-8OC'))[0], 'KP-80C', 'letter O for zero');
      assert.ok((await ids('cab4')).includes('CAB-4'));
      assert.deepEqual(await ids('zzqqxx'), []);
      await rejects(hb().search(SYSTEM, { q: '' }), 'validation.failed');
    });

    it('lock overrides take precedence; the table of contents links both trees', async () => {
      const lock = (await env.services.locks.list(SYSTEM, { q: 'Finance cash safe' })).items[0]!;
      const viaModel = await hb().forLock(SYSTEM, lock.id);
      assert.equal(viaModel.source, 'model');
      const model = entry(lock.modelNumber);
      const override = await hb().create(SYSTEM, { modelId: lock.modelId, lockId: lock.id, content: { ...model.content, title: 'Finance cash safe: reset with facilities present', generic: false }, reason: 'site rule' });
      assert.equal(override.lockName, 'Finance cash safe');
      assert.equal(override.siteId, lock.siteId);
      const own = await hb().forLock(SYSTEM, lock.id);
      assert.equal(own.source, 'lock');
      assert.equal(own.entry?.id, override.id);
      await rejects(hb().create(SYSTEM, { modelId: lock.modelId, lockId: lock.id, content: model.content }), 'handbook.duplicate');
      const bySite = await hb().list(SYSTEM, { siteId: lock.siteId! });
      assert.deepEqual(bySite.map((e) => e.id), [override.id]);
      const { rank, ...found } = (await hb().search(SYSTEM, { q: 'Finance cash safe facilities' }))[0]!;
      assert.ok(rank > 0);
      assert.deepEqual(found, bySite[0], 'a search hit is the same summary as the list gives, its site included');

      const toc = await hb().toc(SYSTEM);
      const vault = toc.manufacturers.find((m) => m.name === 'Vaultline Demo')!;
      const sc10 = vault.models.find((m) => m.modelNumber === 'SC-10')!;
      assert.deepEqual(sc10.entries.map((e) => e.lockId).sort(), [lock.id, null].sort());
      const find = (nodes: typeof toc.locations): (typeof toc.locations)[number]['locks'][number] | undefined => {
        for (const n of nodes) {
          const hit = n.locks.find((l) => l.lockId === lock.id) ?? find(n.children);
          if (hit) return hit;
        }
        return undefined;
      };
      assert.deepEqual(find(toc.locations), { lockId: lock.id, name: 'Finance cash safe', modelId: lock.modelId, entryId: override.id, source: 'lock', status: 'never_verified' });
    });

    it('secrets: masked everywhere, revealed with a reason and recorded, scoped to the site', async () => {
      const e = entry('SC-10');
      const s = await hb().addSecret(SYSTEM, e.id, { kind: 'master_code', label: 'Factory master', value: '739104' });
      assert.equal(s.masked, '••••••');
      const lock = (await env.services.locks.list(SYSTEM, { q: 'Finance cash safe' })).items[0]!;
      const override = (await hb().forLock(SYSTEM, lock.id)).entry!;
      const card = await hb().addSecret(SYSTEM, override.id, { kind: 'reset_card_number', value: 'RC-55-8812' });
      const scopes = (await env.database.db.select({ scope: dataKeys.scope }).from(dataKeys)).map((r) => r.scope).sort();
      assert.deepEqual(scopes, ['deployment', `site:${lock.siteId}`]);
      const stored = await env.database.db.select().from(handbookSecrets);
      assert.ok(stored.every((r) => !r.cipher.includes('739104') && !r.cipher.includes('RC-55')), 'stored only sealed');

      const everywhere = JSON.stringify([await hb().list(SYSTEM), await hb().get(SYSTEM, e.id), await hb().search(SYSTEM, { q: '739104' }), await hb().search(SYSTEM, { q: 'SC-10' }), await hb().toc(SYSTEM)]);
      assert.ok(!everywhere.includes('739104') && !everywhere.includes('RC-55-8812'), 'no value in lists, entries, search or the TOC');
      assert.deepEqual((await hb().search(SYSTEM, { q: '739104' })).length, 0, 'secrets are not indexed');

      await rejects(hb().reveal(AUDITOR, s.id, { reason: 'curious' }), 'auth.forbidden');
      const err = await rejects(hb().reveal(TECH, s.id, {}), 'validation.failed');
      assert.ok(!JSON.stringify(err).includes('739104'));
      assert.equal(await count(secretReveals), 0, 'refused reveals record nothing and reveal nothing');
      await rejects(hb().reveal(TECH, s.id, { reason: 'factory reset of the cash safe' }), 'auth.forbidden');
      const granted: Actor = { ...TECH, grants: [...(TECH as { grants: ActorGrant[] }).grants, { kind: 'reveal', id: 'r1', entryId: e.id, expiresAt: null }] } as Actor;
      await rejects(hb().reveal(granted, card.id, { reason: 'not this entry' }), 'auth.forbidden');
      const shown = await hb().reveal(granted, s.id, { reason: 'factory reset of the cash safe' });
      assert.equal(shown.value, '739104');
      assert.equal((await hb().reveal(SYSTEM, card.id, { reason: 'reset card check' })).value, 'RC-55-8812');
      const log = await hb().reveals(AUDITOR, e.id);
      assert.equal(log.length, 1);
      assert.equal(log[0]!.actorLabel, 'tech@example.test');
      assert.equal(log[0]!.reason, 'factory reset of the cash safe');
      assert.equal(log[0]!.secretId, s.id);
      assert.equal(log[0]!.secretKind, 'master_code');
    });

    it('rejects tampered secrets: a flipped byte, another record, another key version', async () => {
      const e = entry('CAB-4');
      const a = await hb().addSecret(SYSTEM, e.id, { kind: 'installer_code', value: '1111' });
      const b = await hb().addSecret(SYSTEM, e.id, { kind: 'other', label: 'alarm code', value: '2222' });
      const db = env.database.db;
      const cipherOf = async (id: string) => (await db.select().from(handbookSecrets).where(eq(handbookSecrets.id, id)))[0]!.cipher;
      const setCipher = (id: string, cipher: string) => db.update(handbookSecrets).set({ cipher }).where(eq(handbookSecrets.id, id));
      const original = await cipherOf(a.id);
      const parts = original.split('.');
      const ct = Buffer.from(parts[3]!, 'base64url');
      ct[0]! ^= 0x01;
      await setCipher(a.id, [...parts.slice(0, 3), ct.toString('base64url'), parts[4]].join('.'));
      const flipped = await rejects(hb().reveal(SYSTEM, a.id, { reason: 'tamper test' }), 'crypto.integrity');
      assert.ok(!flipped.message.includes('1111'));
      // b's ciphertext under a's id: the associated data (record id) no longer matches.
      await setCipher(a.id, await cipherOf(b.id));
      await rejects(hb().reveal(SYSTEM, a.id, { reason: 'tamper test' }), 'crypto.integrity');
      await setCipher(a.id, ['v1', '2', ...parts.slice(2)].join('.'));
      await rejects(hb().reveal(SYSTEM, a.id, { reason: 'tamper test' }), 'crypto.key_unavailable');
      await setCipher(a.id, original);
      assert.equal((await hb().reveal(SYSTEM, a.id, { reason: 'restored' })).value, '1111');
      // A data key row claiming another master version is refused too.
      const [dk] = await db.select().from(dataKeys).where(eq(dataKeys.scope, 'deployment'));
      await db.update(dataKeys).set({ masterVersion: dk!.masterVersion + 7 }).where(eq(dataKeys.id, dk!.id));
      await rejects(hb().reveal(SYSTEM, a.id, { reason: 'tamper test' }), 'crypto.integrity');
      await db.update(dataKeys).set({ masterVersion: dk!.masterVersion }).where(eq(dataKeys.id, dk!.id));
      assert.equal(await count(secretReveals) >= 2, true);
    });

    it('rotation re-wraps data keys under a new master version; secrets stay readable', async () => {
      const e = entry('CB-2 Pro');
      const s = await hb().addSecret(SYSTEM, e.id, { kind: 'programming_code', value: '480026' });
      const secretsBefore = await env.database.db.select().from(handbookSecrets);
      await rejects(hb().rotateKeys(TECH), 'auth.forbidden');
      const out = await hb().rotateKeys(SYSTEM);
      assert.equal(out.masterVersion, 2);
      assert.equal(out.rewrapped, 2, 'the deployment key and one site key');
      const rows = await env.database.db.select().from(dataKeys);
      assert.ok(rows.every((r) => r.masterVersion === 2 && r.wrappedKey.startsWith('v1.2.')));
      assert.deepEqual(await env.database.db.select().from(handbookSecrets), secretsBefore, 'no secret was re-encrypted');
      assert.equal((await hb().reveal(SYSTEM, s.id, { reason: 'after rotation' })).value, '480026');
      const again = await hb().rotateKeys(SYSTEM);
      assert.equal(again.masterVersion, 3);
      const t = await hb().addSecret(SYSTEM, e.id, { kind: 'other', value: 'after' });
      assert.equal((await hb().reveal(SYSTEM, t.id, { reason: 'new secret after rotation' })).value, 'after');
    });

    it('applies a template to a model as a new revision that keeps the history', async () => {
      const e = entry('CB-1');
      const current = await hb().get(SYSTEM, e.id);
      const out = await hb().applyTemplate(SYSTEM, { modelId: e.modelId, family: 'keypad_entry', reason: 'wrong family template' });
      assert.equal(out.id, e.id);
      assert.equal(out.revision, current.revision + 1);
      assert.match(out.title, /keypad/);
      await rejects(hb().applyTemplate(SYSTEM, { modelId: e.modelId, family: 'rocket' }), 'handbook.no_template');
      assert.equal(hb().templates(SYSTEM).length, 5);
    });
  });
}
