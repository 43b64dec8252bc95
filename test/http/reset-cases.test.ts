/**
 * A compromise reset through the HTTP API on a demo lock, from triage to the signed close-out
 * record: two people (the opener cannot approve), the technician's steps, the simulator as the lock,
 * clear errors for steps out of order and bad input, and no PIN code in any answer.
 */
import assert from 'node:assert/strict';
import { simSetupCode } from '../../src/drivers/simulator/lock-spec.js';
import { randomUUID } from 'node:crypto';
import { verify, createPublicKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Actor } from '../../src/domain/identity.js';
import { PREFLIGHT_CHECKS } from '../../src/domain/reset-case.js';
import type { ResetCaseView } from '../../src/services/reset-case-service.js';
import sharp from 'sharp';
import { hasGps, jpeg, jpegWithGps } from '../helpers/images.js';
import { readPdf } from '../helpers/pdf.js';
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
    for (let i = 1; i <= v.procedure!.length; i++) {
      const s = v.procedure![i - 1]!;
      if (s.kind === 'hold' && s.seconds) {
        v = await step(tech, id, { type: 'start_hold', step: i });
        env.clock.advance(s.seconds * 1000);
      }
      v = await step(tech, id, { type: 'procedure_step', step: i });
    }
    assert.equal(env.fleet.physical.reset(ext, { holdSeconds: 12 }).ok, true);
    v = await step(tech, id, { type: 'confirm_reset' });
    // The enrollment's form: what to type, from the driver.
    const enrollment = (await injectAs(env.app, asSession(tech), { method: 'GET', url: `/api/reset-cases/${id}/enrollment` })).json<{ method: { code: string } | null }>();
    assert.equal(enrollment.method?.code, 'pairing_code');
    expectError(await post(tech, `/api/reset-cases/${id}/steps`, { idempotencyKey: randomUUID(), command: { type: 'reenroll', lockId: lock.id, code: '1111-111-1111' } }), 400, 'device.invalid_code');
    v = await step(tech, id, { type: 'reenroll', lockId: lock.id, code: simSetupCode(ext) });
    assert.equal(v.case.verification.admin_enrollment_accepted?.passed, true);
    // A photo as evidence: uploaded to the case (GPS stripped), then named by id in the check.
    const upload = (body: Buffer, name: string) =>
      injectAs(env.app, asSession(tech), { method: 'POST', url: `/api/reset-cases/${id}/photos?caption=latch`, payload: body, headers: { 'content-type': 'image/jpeg', 'x-filename': name } });
    res = await upload(await jpegWithGps(), 'latch.jpg');
    assert.equal(res.statusCode, 201, res.body);
    const photo = res.json<{ id: string; sha256: string }>();
    const stored = await injectAs(env.app, asSession(tech), { method: 'GET', url: `/api/reset-cases/${id}/photos/${photo.id}` });
    assert.equal(stored.statusCode, 200);
    assert.equal(hasGps((await sharp(stored.rawPayload).metadata()).exif), false, 'no GPS in the stored photo');
    const thumb = await injectAs(env.app, asSession(tech), { method: 'GET', url: `/api/reset-cases/${id}/photos/${photo.id}/thumbnail` });
    assert.equal(thumb.headers['content-type'], 'image/webp');
    // Bad input: a clear error and nothing stored or recorded.
    const version = v.version;
    assert.match(expectError(await upload(Buffer.from('MZ this is a program'), 'latch.jpg'), 415, 'reset.photo_type').message, /latch\.jpg.*PNG, JPEG or WebP/);
    expectError(await upload(Buffer.from('%PDF-1.4 manual'), 'manual.pdf'), 415, 'reset.photo_type');
    expectError(await upload(Buffer.alloc(5 * 1024 * 1024 + 1, 0xff), 'huge.jpg'), 413, 'reset.photo_too_large');
    const bogus = randomUUID();
    const bad = expectError(await post(tech, `/api/reset-cases/${id}/steps`, { idempotencyKey: randomUUID(), command: { type: 'manual_check', lockId: lock.id, check: 'latch_and_door', passed: true, evidence: [bogus] } }), 400, 'reset.invalid');
    assert.deepEqual(fieldPaths(bad), ['command.evidence']);
    const listed = (await injectAs(env.app, asSession(tech), { method: 'GET', url: `/api/reset-cases/${id}/photos` })).json<{ items: { id: string }[] }>().items;
    assert.deepEqual(listed.map((p) => p.id), [photo.id]);
    assert.equal((await injectAs(env.app, asSession(tech), { method: 'GET', url: `/api/reset-cases/${id}` })).json<ResetCaseView>().version, version, 'refused input changed nothing');
    for (const check of v.requiredChecks.filter((c) => !v.case.verification[c]?.passed)) {
      v = await step(tech, id, { type: 'manual_check', lockId: lock.id, check, passed: true, note: 'ok', evidence: check === 'latch_and_door' ? [photo.id] : ['photo-1.jpg'] });
    }
    assert.deepEqual(v.case.verification.latch_and_door?.evidence, [photo.id]);
    v = await step(tech, id, { type: 'complete_verification' });
    v = await step(tech, id, { type: 'rebuild' });
    v = await step(tech, id, { type: 'complete_rebuild' });
    v = await step(owner, id, { type: 'close', note: 'verified' });
    assert.equal(v.case.state, 'closed');
    assert.ok(v.record);

    res = await injectAs(env.app, asSession(tech), { method: 'GET', url: `/api/reset-cases/${id}/record` });
    assert.equal(res.statusCode, 200, res.body);
    const rec = res.json<{ canonical: string; signature: string; keyId: string; publicKeyPem: string; verified: boolean; record: { steps: { command: string; actor: string }[] } }>();
    assert.equal(rec.verified, true);
    assert.equal(verify(null, Buffer.from(rec.canonical), createPublicKey(rec.publicKeyPem), Buffer.from(rec.signature, 'base64url')), true, 'anyone with the public key can check the record');
    assert.deepEqual(
      rec.record.steps.filter((s) => s.command === 'approve').map((s) => s.actor),
      ['second@example.test'],
    );
    assert.deepEqual((rec.record as unknown as { photos: { id: string }[] }).photos.map((p) => p.id), [photo.id], 'the signed record lists the photo');
    expectError(await upload(await jpeg(40, 30), 'late.jpg'), 409, 'reset.wrong_state');

    // The same record as a PDF: every step by name with its actor, the photo, the signature.
    const pdfRes = await injectAs(env.app, asSession(tech), { method: 'GET', url: `/api/reset-cases/${id}/record.pdf` });
    assert.equal(pdfRes.statusCode, 200, pdfRes.body);
    assert.equal(pdfRes.headers['content-type'], 'application/pdf');
    assert.match(String(pdfRes.headers['content-disposition']), /^attachment; filename="reset-case-/);
    const text = (await readPdf(pdfRes.rawPayload)).pages.join(' ');
    for (const s of rec.record.steps) assert.ok(text.includes(`${s.command.replace(/_/g, ' ')}`), `the PDF names step ${s.command}`);
    for (const who of ['owner@', 'second@example.test', 'tech@example.test']) assert.ok(text.includes(who), `the PDF names ${who}`);
    assert.ok(text.includes('latch.jpg') && text.includes(photo.sha256), 'the PDF lists the photo with its hash');
    assert.ok(text.includes(rec.keyId) && /Public key fingerprint/.test(text), 'the PDF carries the key id and fingerprint');
    assert.ok(text.includes('latch and door — passed'), 'the PDF lists the verification checks');
    assert.equal(text.includes(code), false, 'no PIN code in the PDF');

    // The dashboard counts the closed case in this week's compromise resets.
    const dash = await injectAs(env.app, asSession(tech), { method: 'GET', url: '/api/dashboard' });
    assert.equal(dash.statusCode, 200, dash.body);
    const d = dash.json<{ resetsByWeek: { total: number; byReason: Record<string, number> }[]; casesByState: { state: string; count: number }[]; turnoversToday: unknown[] }>();
    assert.equal(d.resetsByWeek.at(-1)!.byReason.credential_compromise, 1);
    assert.deepEqual(d.turnoversToday, []);
    assert.equal((await env.app.inject({ method: 'GET', url: '/api/dashboard' })).statusCode, 401);

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
