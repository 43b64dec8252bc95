/**
 * Integrations over HTTP against Seam's own fake: an owner connects a workspace with its API key and
 * webhook signing secret (neither ever comes back), adopts a lock, and Seam's signed webhook deliveries
 * land in the lock's device history; a delivery with a wrong signature, a stale one, or one for an
 * integration without a webhook is refused and records nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import type { Actor } from '../../src/domain/identity.js';
import { startFakeSeam, type FakeSeam } from '../drivers/seam-peer.js';
import { asSession, expectError, injectAs, OWNER_EMAIL, OWNER_PASSWORD, signIn, testApp, type HttpEnv, type Session } from '../helpers/http.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
const WEBHOOK_SECRET = `whsec_${Buffer.from('lockwarden-http-webhook-secret-32b').toString('base64')}`;

describe('integrations over HTTP (Seam fake)', () => {
  let env: HttpEnv;
  let seam: FakeSeam;
  let owner: Session;
  let integrationId = '';
  let lockId = '';
  let deviceId = '';

  before(async () => {
    [env, seam] = await Promise.all([testApp({ demo: true }), startFakeSeam()]);
    owner = await signIn(env.app, OWNER_EMAIL, OWNER_PASSWORD);
  });
  after(async () => {
    await env.close();
    await seam.close();
  });

  const deliver = (body: string, headers: Record<string, string>, id = integrationId) =>
    env.app.inject({ method: 'POST', url: `/api/integrations/${id}/webhook`, headers: { 'content-type': 'application/json', ...headers }, payload: body });
  const signed = (body: string, at = env.services.ctx.clock.now(), msgId = `msg_${Math.random().toString(36).slice(2)}`) => ({
    'webhook-id': msgId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(WEBHOOK_SECRET).sign(msgId, at, body),
  });
  const history = async () => (await env.services.lockEvents.list(SYSTEM, lockId)).map((e) => e.summary);
  /** Driver events are recorded as they arrive (not in the request): wait for `line` to show. */
  async function historyWith(line: string): Promise<string[]> {
    for (let i = 0; i < 250; i++) {
      const h = await history();
      if (h.includes(line)) return h;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`"${line}" never reached the history: ${JSON.stringify(await history())}`);
  }

  it('connects a workspace; the key and signing secret never come back', async () => {
    const bad = await injectAs(env.app, asSession(owner), { method: 'POST', url: '/api/integrations', payload: { driver: 'seam', name: 'Seam', secret: seam.apiKey, webhookSecret: 'not-a-secret' } });
    const err = expectError(bad, 400, 'validation.failed');
    assert.match(err.message, /webhookSecret is the "whsec_\.\.\." signing secret/);
    const res = await injectAs(env.app, asSession(owner), { method: 'POST', url: '/api/integrations', payload: { driver: 'seam', name: 'Seam workspace', config: { endpoint: seam.url }, secret: seam.apiKey, webhookSecret: WEBHOOK_SECRET } });
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json<{ id: string; running: boolean; hasSecret: boolean; hasWebhookSecret: boolean }>();
    assert.deepEqual([body.running, body.hasSecret, body.hasWebhookSecret], [true, true, true]);
    integrationId = body.id;
    const list = await injectAs(env.app, asSession(owner), { method: 'GET', url: '/api/integrations' });
    for (const text of [res.body, list.body]) {
      assert.doesNotMatch(text, new RegExp(seam.apiKey));
      assert.doesNotMatch(text, /whsec_/);
    }
    const devices = (await injectAs(env.app, asSession(owner), { method: 'GET', url: `/api/integrations/${integrationId}/devices` })).json<{ items: { externalId: string }[] }>().items;
    deviceId = devices[0]!.externalId;
    const unit = (await env.services.locations.list(SYSTEM)).find((l) => l.kind === 'unit')!;
    const adopted = await injectAs(env.app, asSession(owner), { method: 'POST', url: `/api/integrations/${integrationId}/adopt`, payload: { externalId: deviceId, locationId: unit.id } });
    assert.equal(adopted.statusCode, 201, adopted.body);
    lockId = adopted.json<{ id: string }>().id;
  });

  it('a signed delivery lands in the lock’s device history, once', async () => {
    const body = JSON.stringify({ event_id: 'evt_http_1', event_type: 'device.disconnected', device_id: deviceId, workspace_id: seam.workspaceId, created_at: env.services.ctx.clock.now().toISOString(), occurred_at: env.services.ctx.clock.now().toISOString() });
    const headers = signed(body);
    assert.equal((await deliver(body, headers)).statusCode, 204);
    assert.equal((await deliver(body, signed(body))).statusCode, 204, 'a redelivery is accepted');
    const lines = await historyWith('Went offline');
    assert.equal(lines.filter((l) => l === 'Went offline').length, 1, `one line for one event: ${JSON.stringify(lines)}`);
  });

  it('refuses a wrong signature, a stale delivery and an integration without a webhook, recording nothing', async () => {
    const before = await history();
    const body = JSON.stringify({ event_id: 'evt_http_2', event_type: 'device.connected', device_id: deviceId, workspace_id: seam.workspaceId, created_at: env.services.ctx.clock.now().toISOString() });
    const forged = { ...signed(body), 'webhook-signature': new Webhook(`whsec_${Buffer.from('someone-else-entirely-32-bytes!!').toString('base64')}`).sign('m', env.services.ctx.clock.now(), body) };
    expectError(await deliver(body, forged), 401, 'integration.webhook_refused');
    const stale = signed(body, new Date(env.services.ctx.clock.now().getTime() - 3600_000));
    expectError(await deliver(body, stale), 401, 'integration.webhook_refused');
    expectError(await deliver(body, {}), 401, 'integration.webhook_refused');
    const other = await env.services.integrations.create(SYSTEM, { driver: 'zwave', name: 'Z-Wave', config: { url: 'ws://127.0.0.1:1' } });
    expectError(await deliver(body, signed(body), other.id), 404, 'integration.not_found');
    // Then the same event, properly signed: it is the only line added (the test clock stands still, so
    // lines are compared as a set).
    assert.equal((await deliver(body, signed(body))).statusCode, 204);
    assert.deepEqual((await historyWith('Came online')).sort(), ['Came online', ...before].sort());
  });
});
