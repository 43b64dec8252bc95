/**
 * The outbound policy (src/net/outbound.ts) as an attacker meets it: a manager limited to one unit
 * points its calendar feed at this machine, an owner points a webhook at cloud metadata or loopback
 * in every encoding, a public-looking name resolves to 127.0.0.1, a public server redirects inside.
 * Each is refused before any connection (the listeners the test starts see no request), and no error
 * repeats what a listener would have answered. Names resolve through an injected resolver, and the
 * only traffic is to listeners on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { checkUrlLiteral, outboundFetch, outboundPolicy, OutboundError, vetUrl, type Resolver } from '../../src/net/outbound.js';
import { queueMessages } from '../../src/services/outbox-service.js';
import { asSession, injectAs, OWNER_EMAIL, OWNER_PASSWORD, signIn, testApp, type HttpEnv, type Session } from '../helpers/http.js';

const SECRET_BODY = 'INTERNAL-ONLY root:x:0:0 metadata-token=abc123';

/** A listener on 127.0.0.1 that records every request and answers `answer` (a secret-looking body by default). */
async function listener(answer?: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ port: number; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (answer) return answer(req, res);
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`${SECRET_BODY}\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { port, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Names of the test: one "public" name (dialled on 127.0.0.1 by the test's dial map), the rest inside. */
const NAMES: Record<string, string> = {
  'feed.example.test': '127.0.0.1',
  'hooks.example.test': '127.0.0.1',
  'rebind.example.test': '10.11.12.13',
  'public.example.test': '93.184.215.14',
};
const resolver: Resolver = async (name) => {
  const address = NAMES[name];
  if (!address) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  return [{ address, family: 4 }];
};

describe('outbound policy: every fetch the server makes', () => {
  let env: HttpEnv;
  let owner: Session;
  let manager: Session;
  let unitId = '';
  const as = (s: Session, method: string, url: string, payload?: unknown) => injectAs(env.app, asSession(s), { method, url, ...(payload === undefined ? {} : { payload: payload as object }) });

  before(async () => {
    env = await testApp({ demo: true, services: { runtime: { outbound: outboundPolicy({ allowPrivate: ['integration', 'smtp'], resolve: resolver }) } } });
    owner = await signIn(env.app, OWNER_EMAIL, OWNER_PASSWORD);
    const locs = await env.services.locations.list({ kind: 'system', name: 'local-cli' });
    unitId = locs.find((l) => l.name === 'Unit A201' && l.kind === 'unit')!.id;
    await env.createUser('unit-manager@example.test', 'manager', 'unit manager password 1', unitId);
    manager = await signIn(env.app, 'unit-manager@example.test', 'unit manager password 1');
  });
  after(() => env.close());

  it('a unit manager cannot make the server read http://127.0.0.1:<port>/ as a calendar feed, nor read it back in an error', async () => {
    const target = await listener();
    try {
      for (const url of [`http://127.0.0.1:${target.port}/feed.ics`, `http://0x7f000001:${target.port}/feed.ics`, `http://[::ffff:127.0.0.1]:${target.port}/`, `http://localhost:${target.port}/`]) {
        const set = await as(manager, 'PATCH', `/api/units/${unitId}/occupancy`, { icalUrl: url });
        assert.equal(set.statusCode, 400, `${url}: ${set.body}`);
        assert.deepEqual(set.json<{ error: { fields: { path: string }[] } }>().error.fields.map((f) => f.path), ['icalUrl']);
        assert.match(set.json<{ error: { message: string } }>().error.message, /loopback/);
        const poll = await as(manager, 'POST', `/api/units/${unitId}/feed/poll`);
        assert.ok(poll.statusCode >= 400, 'no feed to poll');
        assert.ok(!poll.body.includes('INTERNAL-ONLY'), 'the listener body is never echoed');
      }
      // A name that resolves to this machine passes the save (names are resolved when fetched) and is refused when polled.
      const named = await as(manager, 'PATCH', `/api/units/${unitId}/occupancy`, { icalUrl: `http://feed.example.test:${target.port}/feed.ics` });
      assert.equal(named.statusCode, 200, named.body);
      const poll = await as(manager, 'POST', `/api/units/${unitId}/feed/poll`);
      assert.equal(poll.statusCode, 400, poll.body);
      assert.match(poll.json<{ error: { message: string } }>().error.message, /feed\.example\.test \(127\.0\.0\.1\) is this machine/);
      assert.ok(!poll.body.includes('INTERNAL-ONLY'), 'the listener body is never echoed');
      const page = await as(manager, 'GET', `/api/units/${unitId}/occupancy`);
      assert.ok(!page.body.includes('INTERNAL-ONLY'), 'nor stored as the feed error');
      assert.deepEqual(target.seen, [], 'the listener saw no request');
    } finally {
      await target.close();
    }
  });

  it('a feed that is not iCalendar is refused without quoting it', async () => {
    const target = await listener();
    const policy = outboundPolicy({ allowPrivate: ['ical'] });
    try {
      const { parseFeed } = await import('../../src/domain/occupancy.js');
      const res = await outboundFetch(policy, 'ical', `http://127.0.0.1:${target.port}/`, { timeoutMs: 5000, maxBytes: 1024 });
      assert.throws(() => parseFeed(res.body.toString('utf8'), { timeZone: 'UTC', checkInTime: '15:00', checkOutTime: '11:00' }), (e: Error) => /not valid iCalendar/.test(e.message) && !e.message.includes('INTERNAL-ONLY'));
    } finally {
      await target.close();
    }
  });

  it('webhook endpoints at metadata, loopback in any encoding, or localhost are refused with a 400 naming target', async () => {
    for (const target of ['http://169.254.169.254/latest/meta-data/', 'http://[::1]/hook', 'http://0x7f000001/hook', 'http://2130706433/hook', 'http://0177.0.0.1/hook', 'http://localhost/hook', 'http://LOCALHOST./hook', 'http://[::ffff:127.0.0.1]/hook', 'http://10.0.0.7/hook', 'http://[fd00:ec2::254]/', 'http://100.100.100.200/', 'http://0.0.0.0/']) {
      const res = await as(owner, 'POST', '/api/notification-endpoints', { channel: 'webhook', name: 'x', target });
      assert.equal(res.statusCode, 400, `${target}: ${res.body}`);
      assert.deepEqual(res.json<{ error: { fields: { path: string }[] } }>().error.fields.map((f) => f.path), ['target'], target);
    }
    assert.deepEqual((await as(owner, 'GET', '/api/notification-endpoints')).json<{ items: unknown[] }>().items, [], 'nothing was saved');
  });

  it('a webhook whose name resolves to 127.0.0.1 is saved but never delivered there', async () => {
    const hook = await listener();
    try {
      const added = await as(owner, 'POST', '/api/notification-endpoints', { channel: 'webhook', name: 'Looks public', target: `http://hooks.example.test:${hook.port}/hook` });
      assert.equal(added.statusCode, 201, added.body);
      const { db } = env.services.ctx;
      await queueMessages(env.services.ctx, db, [{ channel: 'webhook', target: `http://hooks.example.test:${hook.port}/hook`, topic: 'test', subject: 'x', body: 'y', locationId: null }]);
      await env.services.outbox.deliverDue();
      const outbox = (await as(owner, 'GET', '/api/outbox')).json<{ items: { status: string; lastError: string | null }[] }>().items;
      assert.equal(outbox.length, 1);
      assert.equal(outbox[0]!.status, 'pending');
      assert.match(outbox[0]!.lastError ?? '', /is refused: hooks\.example\.test \(127\.0\.0\.1\) is this machine/);
      assert.deepEqual(hook.seen, [], 'the listener saw no request');
    } finally {
      await hook.close();
    }
  });

  it('a redirect to a private address is refused before it is followed', async () => {
    const inside = await listener();
    // The "public" server (its checked address is dialled on 127.0.0.1): redirects inside.
    let to = '';
    const outside = await listener((_req, res) => res.writeHead(302, { location: to }).end());
    const dial = () => ({ address: '127.0.0.1', family: 4 as const });
    const policy = outboundPolicy({ resolve: resolver, dial });
    try {
      for (const where of [`http://127.0.0.1:${inside.port}/`, `http://[::1]:${inside.port}/`, `http://rebind.example.test:${inside.port}/`, 'http://169.254.169.254/latest/meta-data/']) {
        to = where;
        await assert.rejects(outboundFetch(policy, 'ical', `http://public.example.test:${outside.port}/feed.ics`, { timeoutMs: 5000, maxBytes: 1024 }), (e) => e instanceof OutboundError && e.reason === 'refused', where);
      }
      assert.equal(outside.seen.length, 4, 'the public server was asked each time');
      assert.deepEqual(inside.seen, [], 'the private listener saw no request');
    } finally {
      await inside.close();
      await outside.close();
    }
  });

  it('every encoding of a refused address is read as the address it means', async () => {
    const strict = outboundPolicy({ resolve: async () => assert.fail('an IP literal is not resolved') });
    const refused = ['http://127.1/', 'http://0x7f.1/', 'http://[::ffff:7f00:1]/', 'http://[0:0:0:0:0:0:0:1]/', 'http://[fe80::1]/', 'http://[64:ff9b::7f00:1]/', 'http://[2002:7f00:1::]/', 'http://224.0.0.1/', 'http://255.255.255.255/', 'http://192.168.1.1/', 'http://172.16.0.1/', 'mqtt://0x7f000001:1883', 'ws://[::1]:3000'];
    for (const url of refused) {
      assert.throws(() => checkUrlLiteral(strict, 'webhook', url), (e) => e instanceof OutboundError && e.reason === 'refused', url);
      await assert.rejects(vetUrl(strict, 'webhook', url), (e) => e instanceof OutboundError && e.reason === 'refused', url);
    }
    // The owner's allowance opens the LAN and this machine for that kind only, never metadata.
    const lan = outboundPolicy({ allowPrivate: ['integration'], resolve: resolver });
    assert.equal((await vetUrl(lan, 'integration', 'ws://192.168.1.20:3000')).address, '192.168.1.20');
    assert.equal((await vetUrl(lan, 'integration', 'ws://[::1]:3000')).address, '::1');
    await assert.rejects(vetUrl(lan, 'integration', 'http://169.254.169.254/'), (e) => e instanceof OutboundError && e.reason === 'refused');
    await assert.rejects(vetUrl(lan, 'webhook', 'http://192.168.1.20/'), (e) => e instanceof OutboundError && e.reason === 'refused');
  });

  it('an integration URL on link-local or (without the allowance) this machine is refused', async () => {
    const meta = await as(owner, 'POST', '/api/integrations', { driver: 'zwave', name: 'Metadata', config: { url: 'ws://169.254.169.254:3000' } });
    assert.equal(meta.statusCode, 400, meta.body);
    assert.deepEqual(meta.json<{ error: { fields: { path: string }[] } }>().error.fields.map((f) => f.path), ['config.url']);
    const seam = await as(owner, 'POST', '/api/integrations', { driver: 'seam', name: 'Seam', config: { endpoint: 'http://[fe80::1]/' }, secret: 'seam_key_1234' });
    assert.equal(seam.statusCode, 400, seam.body);
  });

  it('an answer larger than the bound is cut off, and a slow one times out', async () => {
    const big = await listener((_req, res) => {
      res.writeHead(200);
      res.end(Buffer.alloc(300 * 1024, 65));
    });
    const slow = await listener(() => undefined);
    const policy = outboundPolicy({ allowPrivate: ['ical'] });
    try {
      await assert.rejects(outboundFetch(policy, 'ical', `http://127.0.0.1:${big.port}/`, { timeoutMs: 5000, maxBytes: 100 * 1024 }), (e) => e instanceof OutboundError && e.reason === 'too_large');
      await assert.rejects(outboundFetch(policy, 'ical', `http://127.0.0.1:${slow.port}/`, { timeoutMs: 300, maxBytes: 1024 }), (e) => e instanceof OutboundError && e.reason === 'timeout');
    } finally {
      await big.close();
      await slow.close();
    }
  });
});
