/**
 * Access over HTTP: invitations within what one may grant, requests that others decide (never the
 * requester), two approvers where policy asks, grants that end by themselves or at once, the last
 * owner kept, and the site's document owner told.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { asSession, expectError, fieldPaths, injectAs, OWNER_EMAIL, OWNER_PASSWORD, signIn, testApp, type HttpEnv, type Session } from '../helpers/http.js';

interface Loc {
  id: string;
  name: string;
  kind: string;
}
interface RequestJson {
  id: string;
  state: string;
  requiredApprovals: number;
  canDecide: boolean;
  grantId: string | null;
  decisions: { approverEmail: string; decision: string }[];
}
interface GrantJson {
  id: string;
  userEmail: string;
  role: string | null;
  state: string;
  expiresAt: string | null;
}

describe('access requests and grants over HTTP', () => {
  let env: HttpEnv;
  let owner: Session;
  let admin: Session;
  let manager: Session;
  let tech: Session;
  let otherManager: Session;
  let locs: Loc[];
  const loc = (name: string) => locs.find((l) => l.name === name)!;
  const as = (s: Session, method: string, url: string, payload?: unknown) => injectAs(env.app, asSession(s), { method: method, url, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });

  before(async () => {
    env = await testApp({ demo: true });
    owner = await signIn(env.app, OWNER_EMAIL, OWNER_PASSWORD);
    locs = (await as(owner, 'GET', '/api/locations')).json<{ items: Loc[] }>().items;
    await env.createUser('admin@example.test', 'admin', 'admin password 123');
    await env.createUser('maya@example.test', 'manager', 'manager password 1', loc('Northgate Offices').id);
    await env.createUser('otto@example.test', 'manager', 'manager password 2', loc('Harbour View Apartments').id);
    await env.createUser('tech@example.test', 'technician', 'technician password 1', loc('Northgate Offices').id);
    admin = await signIn(env.app, 'admin@example.test', 'admin password 123');
    manager = await signIn(env.app, 'maya@example.test', 'manager password 1');
    otherManager = await signIn(env.app, 'otto@example.test', 'manager password 2');
    tech = await signIn(env.app, 'tech@example.test', 'technician password 1');
  });
  after(() => env.close());

  it('a manager invites within their site and only roles they may grant', async () => {
    const ok = await as(manager, 'POST', '/api/users/invite', { email: 'new.tech@example.test', displayName: 'New Tech', role: 'technician', locationId: loc('Northgate Offices').id });
    assert.equal(ok.statusCode, 201, ok.body);
    assert.match(ok.json<{ signInPath: string }>().signInPath, /^\/signin\/one-time#.{20,}/);
    expectError(await as(manager, 'POST', '/api/users/invite', { email: 'a@example.test', displayName: 'A', role: 'admin', locationId: loc('Northgate Offices').id }), 403, 'access.not_grantable');
    expectError(await as(manager, 'POST', '/api/users/invite', { email: 'b@example.test', displayName: 'B', role: 'technician', locationId: loc('Harbour View Apartments').id }), 403, 'auth.forbidden');
    expectError(await as(manager, 'POST', '/api/users/invite', { email: 'c@example.test', displayName: 'C', role: 'technician', locationId: null }), 403, 'auth.forbidden');
    expectError(await as(tech, 'POST', '/api/users/invite', { email: 'd@example.test', displayName: 'D', role: 'technician', locationId: loc('Northgate Offices').id }), 403, 'auth.forbidden');
    const dup = await as(owner, 'POST', '/api/users/invite', { email: 'new.tech@example.test', displayName: 'Again', role: 'technician', locationId: null });
    expectError(dup, 409, 'user.duplicate');
    // The people list is scoped too: Northgate's manager does not see Harbour View's.
    const people = (await as(manager, 'GET', '/api/users')).json<{ items: { email: string }[] }>().items.map((u) => u.email);
    assert.ok(people.includes('tech@example.test') && people.includes('new.tech@example.test'), people.join());
    assert.ok(!people.includes('otto@example.test'), people.join());
    // Someone's roles elsewhere (and the names of those places) are not shown to a scoped reader.
    const newTech = (await env.services.auth.listUsers({ kind: 'system', name: 'local-cli' })).find((u) => u.email === 'new.tech@example.test')!;
    await env.services.access.grant({ kind: 'system', name: 'local-cli' }, { userId: newTech.id, role: 'technician', locationId: loc('Harbour View Apartments').id });
    const seen = (await as(manager, 'GET', '/api/users')).json<{ items: { email: string; roles: { locationName: string | null }[] }[] }>().items.find((u) => u.email === 'new.tech@example.test')!;
    assert.deepEqual(seen.roles.map((r) => r.locationName), ['Northgate Offices']);
    assert.ok(!JSON.stringify(await as(manager, 'GET', '/api/users').then((r) => r.body)).includes('Harbour View'));
  });

  it('a request is decided by someone with authority, never the requester; approval grants for the asked duration', async () => {
    const northgate = loc('Northgate Offices').id;
    await env.services.access.setDocumentOwner({ kind: 'system', name: 'local-cli' }, northgate, { userId: (await env.services.auth.listUsers({ kind: 'system', name: 'local-cli' })).find((u) => u.email === 'maya@example.test')!.id });
    const bad = await as(tech, 'POST', '/api/access/requests', { kind: 'role', role: 'manager', locationId: northgate, justification: 'short', durationHours: 0 });
    assert.deepEqual(fieldPaths(expectError(bad, 400, 'validation.failed')).sort(), ['durationHours', 'justification']);
    const created = await as(tech, 'POST', '/api/access/requests', { kind: 'role', role: 'manager', locationId: northgate, justification: 'covering for Maya during her leave', durationHours: 48 });
    assert.equal(created.statusCode, 201, created.body);
    const req = created.json<RequestJson>();
    assert.equal(req.requiredApprovals, 1);
    assert.equal(req.canDecide, false);
    expectError(await as(tech, 'POST', '/api/access/requests', { kind: 'role', role: 'manager', locationId: northgate, justification: 'covering for Maya during her leave', durationHours: 48 }), 409, 'access.duplicate_request');
    // The document owner is told.
    const notes = (await as(manager, 'GET', '/api/notifications')).json<{ items: { subject: string }[] }>().items;
    assert.ok(notes.some((n) => n.subject.includes('tech@example.test requests the manager role')), JSON.stringify(notes));
    // The requester cannot decide; a manager of another site cannot either, nor see it.
    expectError(await as(tech, 'POST', `/api/access/requests/${req.id}/decision`, { decision: 'approve', reason: 'me' }), 403, 'access.self_approval');
    expectError(await as(otherManager, 'POST', `/api/access/requests/${req.id}/decision`, { decision: 'approve', reason: 'sure' }), 403, 'auth.forbidden');
    assert.equal((await as(otherManager, 'GET', '/api/access/requests?view=inbox')).json<{ items: RequestJson[] }>().items.length, 0);
    const inbox = (await as(manager, 'GET', '/api/access/requests?view=inbox')).json<{ items: RequestJson[] }>().items;
    assert.deepEqual(inbox.map((r) => r.id), [req.id]);
    const approved = await as(manager, 'POST', `/api/access/requests/${req.id}/decision`, { decision: 'approve', reason: 'leave cover' });
    assert.equal(approved.statusCode, 200, approved.body);
    assert.equal(approved.json<RequestJson>().state, 'approved');
    expectError(await as(manager, 'POST', `/api/access/requests/${req.id}/decision`, { decision: 'deny', reason: 'changed my mind' }), 409, 'access.not_pending');
    const grants = (await as(manager, 'GET', `/api/access/grants?locationId=${northgate}`)).json<{ items: GrantJson[] }>().items;
    const g = grants.find((x) => x.userEmail === 'tech@example.test' && x.role === 'manager')!;
    assert.equal(g.state, 'active');
    const hours = (new Date(g.expiresAt!).getTime() - env.services.ctx.clock.now().getTime()) / 3600_000;
    assert.ok(hours > 47.9 && hours <= 48, `expires in ${hours} h`);
    // The technician now holds the manager role on Northgate, and only there.
    const tech2 = await signIn(env.app, 'tech@example.test', 'technician password 1');
    assert.ok(tech2.body.allowedActions.includes('lock.write'));
    // Revoked: it stops at once, on the very next request of the same session.
    const revoke = await as(manager, 'POST', `/api/access/grants/${g.id}/revoke`, { reason: 'Maya is back' });
    assert.equal(revoke.json<GrantJson>().state, 'revoked');
    const lockHere = (await as(owner, 'GET', `/api/locks?siteId=${northgate}&limit=1`)).json<{ items: { id: string }[] }>().items[0]!;
    expectError(await as(tech2, 'PATCH', `/api/locks/${lockHere.id}`, { notes: 'after revoke' }), 403, 'auth.forbidden');
  });

  it('secrets of a model entry need two approvers, and a grant expires by itself at use time', async () => {
    const entries = (await as(owner, 'GET', '/api/handbook/entries')).json<{ items: { id: string; lockId: string | null }[] }>().items;
    const modelEntry = entries.find((e) => e.lockId === null)!;
    const req = (await as(tech, 'POST', '/api/access/requests', { kind: 'reveal', entryId: modelEntry.id, justification: 'need the installer code for a reset', durationHours: 1 })).json<RequestJson>();
    assert.equal(req.requiredApprovals, 2);
    // A site manager has no authority over an organisation-wide entry.
    expectError(await as(manager, 'POST', `/api/access/requests/${req.id}/decision`, { decision: 'approve', reason: 'ok' }), 403, 'auth.forbidden');
    const first = await as(owner, 'POST', `/api/access/requests/${req.id}/decision`, { decision: 'approve', reason: 'ok by owner' });
    assert.equal(first.json<RequestJson>().state, 'pending');
    expectError(await as(owner, 'POST', `/api/access/requests/${req.id}/decision`, { decision: 'approve', reason: 'again' }), 409, 'access.already_decided');
    const second = await as(admin, 'POST', `/api/access/requests/${req.id}/decision`, { decision: 'approve', reason: 'ok by admin' });
    const done = second.json<RequestJson>();
    assert.equal(done.state, 'approved');
    assert.deepEqual(done.decisions.map((d) => d.approverEmail), [OWNER_EMAIL, 'admin@example.test']);
    // Move the grant's end into the past, as time would: the next request is refused, no sweeper involved.
    const now = env.services.ctx.clock.now();
    await env.services.ctx.db.execute(sql`update access_grants set granted_at = ${new Date(now.getTime() - 7200_000).toISOString()}, expires_at = ${new Date(now.getTime() - 1000).toISOString()} where id = ${done.grantId}`);
    const grants = (await as(owner, 'GET', '/api/access/grants?includeInactive=true')).json<{ items: (GrantJson & { id: string })[] }>().items;
    assert.equal(grants.find((g) => g.id === done.grantId)?.state, 'expired');
  });

  it('a denial ends a request; the database itself refuses a self-approval', async () => {
    const req = (await as(tech, 'POST', '/api/access/requests', { kind: 'role', role: 'technician', locationId: loc('Harbour View Apartments').id, justification: 'helping at the other site this week', durationHours: 24 })).json<RequestJson>();
    const denied = await as(otherManager, 'POST', `/api/access/requests/${req.id}/decision`, { decision: 'deny', reason: 'we have enough hands' });
    assert.equal(denied.json<RequestJson>().state, 'denied');
    const techId = (await env.services.auth.listUsers({ kind: 'system', name: 'local-cli' })).find((u) => u.email === 'tech@example.test')!.id;
    await assert.rejects(
      env.services.ctx.db.execute(sql`insert into access_decisions (request_id, approver_id, requester_id, decision, reason, decided_at) values (${req.id}, ${techId}, ${techId}, 'approve', 'x', now())`),
      (e: Error & { cause?: Error }) => /access_decisions_not_self_check/.test(`${e.message} ${e.cause?.message ?? ''}`),
    );
  });

  it('the last organisation-wide owner cannot be revoked', async () => {
    const grants = (await as(owner, 'GET', '/api/access/grants')).json<{ items: GrantJson[] }>().items;
    const ownerGrant = grants.find((g) => g.userEmail === OWNER_EMAIL && g.role === 'owner')!;
    // An admin cannot end an owner's role at all (they could not grant it); an owner meets the last-owner rule.
    expectError(await as(admin, 'POST', `/api/access/grants/${ownerGrant.id}/revoke`, { reason: 'coup' }), 403, 'access.not_grantable');
    expectError(await as(owner, 'POST', `/api/access/grants/${ownerGrant.id}/revoke`, { reason: 'stepping down' }), 409, 'access.last_owner');
    // A site manager cannot end an admin's role on their site.
    const adminHere = (await as(owner, 'POST', '/api/access/grants', { userId: (await env.services.auth.listUsers({ kind: 'system', name: 'local-cli' })).find((u) => u.email === 'admin@example.test')!.id, role: 'admin', locationId: loc('Northgate Offices').id })).json<GrantJson>();
    expectError(await as(manager, 'POST', `/api/access/grants/${adminHere.id}/revoke`, { reason: 'nope' }), 403, 'access.not_grantable');
  });
});
