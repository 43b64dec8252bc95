/**
 * A compromise reset through the HTTP API on a demo lock, from triage to the signed close-out
 * record: two people (the opener cannot approve), the technician's steps, the simulator as the lock,
 * clear errors for steps out of order and bad input, and no PIN code in any answer.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { verify, createPublicKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Actor } from '../../src/domain/identity.js';
import { PREFLIGHT_CHECKS } from '../../src/domain/reset-case.js';
import type { ResetCaseView } from '../../src/services/reset-case-service.js';
import { asSession, expectError, fieldPaths, injectAs, OWNER_EMAIL, OWNER_PASSWORD, signIn, testApp, type HttpEnv, type Session } from '../helpers/http.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

describe('reset cases over HTTP', () => {
  let env: HttpEnv;
  let owner: Session;
  let second: Session;
  let tech: Session;

  before(async () => {
    env = await testApp({ demo: true });
    owner = await signIn(env.app, OWNER_EMAIL, OWNER_PASSWORD);
    await env.services.auth.createUser(SYSTEM, { email: 'second@example.test', displayName: 'Second', role: 'admin', password: 'second person password' });
    await env.services.auth.createUser(SYSTEM, { email: 'tech@example.test', displayName: 'Tech', role: 'technician', password: 'technician password' });
    second = await signIn(env.app, 'second@example.test', 'second person password');
    tech = await signIn(env.app, 'tech@example.test', 'technician password');
  });
  after(() => env.close());

  const post = (s: Session, url: string, payload: unknown) => injectAs(env.app, asSession(s), { method: 'POST', url, payload: payload as Record<string, unknown> });
  async function step(s: Session, id: string, command: Record<string, unknown>, key = randomUUID()): Promise<ResetCaseView> {
    const res = await post(s, `/api/reset-cases/${id}/steps`, { idempotencyKey: key, command });
    assert.equal(res.statusCode, 200, `${String(command.type)}: ${res.body}`);
    return res.json<ResetCaseView>();
  }

  it('runs a compromise reset from triage to a signed close-out record', async () => {
    const lock = (await env.services.locks.list(SYSTEM, { limit: 200 })).items.find((l) => l.modelNumber === 'DB-100' && l.serviceState === 'in_service')!;
    const ext = lock.externalId!;
    env.fleet.outOfBand.setBattery(ext, 80);
    const { code } = await env.services.credentials.addPin(SYSTEM, lock.id, { holder: 'Guest' });
    await env.runtime.reconciler.reconcile(lock.id, { read: true });

    expectError(await post(owner, '/api/reset-cases', { lockId: lock.id, reason: 'hacked' }), 400, 'validation.failed');
    let res = await post(owner, '/api/reset-cases', { lockId: lock.id, reason: 'credential_compromise', description: 'code posted in a review' });
    assert.equal(res.statusCode, 201, res.body);
    let v = res.json<ResetCaseView>();
    const id = v.case.id;
    assert.equal(v.case.recommendation.remedy, 'full_reset');
    assert.ok(v.procedure!.length > 0);

    const wrong = expectError(await post(tech, `/api/reset-cases/${id}/steps`, { idempotencyKey: randomUUID(), command: { type: 'procedure_step', step: 1 } }), 409, 'reset.wrong_state');
    assert.match(wrong.message, /triage/);
    assert.deepEqual(fieldPaths(expectError(await post(owner, `/api/reset-cases/${id}/steps`, { idempotencyKey: randomUUID(), command: { type: 'preflight_check', check: 'vibes' } }), 400, 'validation.failed')).length > 0, true);

    v = await step(owner, id, { type: 'decide', remedy: 'full_reset' });
    for (const check of PREFLIGHT_CHECKS.filter((c) => c !== 'battery_adequate')) v = await step(owner, id, { type: 'preflight_check', check, passed: true, note: 'confirmed' });
    v = await step(tech, id, { type: 'read_battery' });
    expectError(await post(owner, `/api/reset-cases/${id}/steps`, { idempotencyKey: randomUUID(), command: { type: 'approve' } }), 403, 'reset.self_approval');
    v = await step(second, id, { type: 'approve', note: 'agreed with the incident lead' });
    v = await step(owner, id, { type: 'complete_preflight' });
    v = await step(owner, id, { type: 'take_snapshot' });
    assert.equal(v.lockedOut.length, 1);
    for (let i = 1; i <= v.procedure!.length; i++) v = await step(tech, id, { type: 'procedure_step', step: i });
    assert.equal(env.fleet.physical.reset(ext, { holdSeconds: 12 }).ok, true);
    v = await step(tech, id, { type: 'confirm_reset' });
    env.fleet.outOfBand.enrollAdmin(ext, 'owner phone');
    env.fleet.outOfBand.pairLockwarden(ext);
    v = await step(tech, id, { type: 'run_checks', lockId: lock.id });
    for (const check of v.requiredChecks.filter((c) => !v.case.verification[c]?.passed)) {
      v = await step(tech, id, { type: 'manual_check', lockId: lock.id, check, passed: true, note: 'ok', evidence: ['photo-1.jpg'] });
    }
    v = await step(tech, id, { type: 'complete_verification' });
    v = await step(tech, id, { type: 'rebuild' });
    v = await step(tech, id, { type: 'complete_rebuild' });
    v = await step(owner, id, { type: 'close', note: 'verified' });
    assert.equal(v.case.state, 'closed');
    assert.ok(v.record);

    res = await injectAs(env.app, asSession(tech), { method: 'GET', url: `/api/reset-cases/${id}/record` });
    assert.equal(res.statusCode, 200, res.body);
    const rec = res.json<{ canonical: string; signature: string; publicKeyPem: string; verified: boolean; record: { steps: { command: string; actor: string }[] } }>();
    assert.equal(rec.verified, true);
    assert.equal(verify(null, Buffer.from(rec.canonical), createPublicKey(rec.publicKeyPem), Buffer.from(rec.signature, 'base64url')), true, 'anyone with the public key can check the record');
    assert.deepEqual(
      rec.record.steps.filter((s) => s.command === 'approve').map((s) => s.actor),
      ['second@example.test'],
    );
    const list = await injectAs(env.app, asSession(owner), { method: 'GET', url: `/api/reset-cases?state=closed&lockId=${lock.id}` });
    assert.equal(list.statusCode, 200, list.body);
    assert.equal(list.json<{ items: unknown[] }>().items.length, 1);
    for (const body of [res.body, list.body, JSON.stringify(v)]) assert.equal(body.includes(code), false, 'no PIN code in any answer');
    assert.equal(env.fleet.get(ext).pins[0]?.code, code, 'the guest has their code back');
  });

  it('refuses a case for a retired lock and an unknown case, with clear errors', async () => {
    const lock = (await env.services.locks.list(SYSTEM, { limit: 200 })).items.find((l) => l.serviceState === 'in_service' && l.modelNumber === 'KP-50')!;
    await env.services.locks.retire(SYSTEM, lock.id, { reason: 'gone' });
    const err = expectError(await post(owner, '/api/reset-cases', { lockId: lock.id, reason: 'pairing_loop' }), 409, 'lock.retired');
    assert.deepEqual(fieldPaths(err), ['lockId']);
    expectError(await injectAs(env.app, asSession(owner), { method: 'GET', url: `/api/reset-cases/${randomUUID()}` }), 404, 'reset.not_found');
    expectError(await injectAs(env.app, asSession(owner), { method: 'GET', url: '/api/reset-cases?state=nonsense' }), 400, 'validation.failed');
  });
});
