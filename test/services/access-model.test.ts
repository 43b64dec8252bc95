/**
 * Model-based test of access requests (fast-check): random sequences of request, approve, deny,
 * withdraw, time passing and revoke, run against the services and against a small model written
 * here. After every step: the services agreed with the model on what was allowed and refused; a
 * requester never decided their own request; a request was approved only by enough distinct people
 * with authority; each approval made exactly one grant, ending `durationHours` after the last
 * approval; and a grant counts (in the actor built at use time, and in the policy) exactly while it is
 * neither revoked nor past its end, with no sweeper anywhere.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { isAppError } from '../../src/domain/errors.js';
import { isAllowed, type Actor, type Role } from '../../src/domain/identity.js';
import { AccessRepository } from '../../src/store/access-repository.js';
import { ENGINES, testServices, type TestEnv } from '../helpers/db.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
const PEOPLE = ['owner', 'admin', 'manager', 'tech1', 'tech2'] as const;
type Person = (typeof PEOPLE)[number];
const BASE: Record<Person, { role: Role; at: 'org' | 'site' | 'u1' }> = {
  owner: { role: 'owner', at: 'org' },
  admin: { role: 'admin', at: 'org' },
  manager: { role: 'manager', at: 'site' },
  tech1: { role: 'technician', at: 'u1' },
  tech2: { role: 'technician', at: 'u1' },
};
/** What can be asked for: a role at a place. Required approvals follow the written policy. */
const ASKS = [
  { role: 'technician' as Role, at: 'u2' as const, required: 1 },
  { role: 'manager' as Role, at: 'site' as const, required: 1 },
  { role: 'admin' as Role, at: 'org' as const, required: 2 },
];
const GRANTABLE: Record<Role, Role[]> = { owner: ['owner', 'admin', 'manager', 'technician', 'auditor', 'occupant'], admin: ['admin', 'manager', 'technician', 'auditor', 'occupant'], manager: ['manager', 'technician', 'occupant'], technician: [], auditor: [], occupant: [] };
const WEEK = 7 * 24 * 3600_000;

type Step =
  | { t: 'request'; who: Person; ask: number; hours: number }
  | { t: 'decide'; who: Person; req: number; approve: boolean }
  | { t: 'cancel'; who: Person; req: number }
  | { t: 'wait'; ms: number }
  | { t: 'revoke'; grant: number };

const person = fc.constantFrom(...PEOPLE);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('request' as const), who: person, ask: fc.nat(ASKS.length - 1), hours: fc.constantFrom(1, 2, 24) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('decide' as const), who: person, req: fc.nat(7), approve: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('cancel' as const), who: person, req: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('wait' as const), ms: fc.constantFrom(30 * 60_000, 90 * 60_000, 25 * 3600_000, 8 * 24 * 3600_000) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('revoke' as const), grant: fc.nat(5) }) },
);

interface ModelRequest {
  id: string;
  by: Person;
  ask: (typeof ASKS)[number];
  hours: number;
  state: 'pending' | 'approved' | 'denied' | 'cancelled';
  lapsesAt: number;
  decided: Set<Person>;
  approvals: number;
}
interface ModelGrant {
  id: string;
  user: Person;
  role: Role;
  at: 'org' | 'site' | 'u1' | 'u2';
  endsAt: number;
  revoked: boolean;
}

for (const engine of ENGINES) {
  describe(`access requests against a model (${engine})`, () => {
    let env: TestEnv;
    before(async () => {
      env = await testServices(engine);
    });
    after(() => env?.close());

    it('random request / decide / withdraw / wait / revoke sequences keep every invariant', async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(stepArb, { minLength: 5, maxLength: 25 }), async (steps) => {
          run++;
          const s = env.services;
          const now = () => env.clock.now().getTime();
          // A fresh little world per run: a site with two units, and five people.
          const org = await s.locations.create(SYSTEM, { parentId: null, kind: 'organisation', name: `Model org ${engine} ${run} ${Math.random()}` });
          const site = await s.locations.create(SYSTEM, { parentId: org.id, kind: 'site', name: 'Site' });
          const u1 = await s.locations.create(SYSTEM, { parentId: site.id, kind: 'unit', name: 'U1' });
          const u2 = await s.locations.create(SYSTEM, { parentId: site.id, kind: 'unit', name: 'U2' });
          const where = { org: null, site: site.id, u1: u1.id, u2: u2.id } as const;
          const paths = { org: null, site: site.path, u1: u1.path, u2: u2.path } as const;
          const ids = {} as Record<Person, string>;
          for (const p of PEOPLE) {
            const u = await s.auth.createUser(SYSTEM, { email: `${p}-${run}-${Math.random().toString(36).slice(2)}@model.test`, displayName: p, role: BASE[p].role, locationId: where[BASE[p].at] });
            ids[p] = u.id;
          }
          const actorOf = async (p: Person): Promise<Actor> => ({ kind: 'user', userId: ids[p], email: p, via: 'session', grants: await new AccessRepository(s.ctx.db).liveGrantsOf(ids[p], env.clock.now()), assurance: { kind: 'token', scope: 'full' } });
          const covers = (grantAt: 'org' | 'site' | 'u1' | 'u2', at: 'org' | 'site' | 'u1' | 'u2') => grantAt === 'org' || grantAt === at || (grantAt === 'site' && at !== 'org');
          const reqs: ModelRequest[] = [];
          const grants: ModelGrant[] = [];
          const live = (g: ModelGrant) => !g.revoked && now() < g.endsAt;
          /** Authority to decide, from the base grants and the live granted ones (the written policy). */
          const mayGrant = (p: Person, role: Role, at: 'org' | 'site' | 'u2') =>
            [{ role: BASE[p].role, at: BASE[p].at as 'org' | 'site' | 'u1' | 'u2' }, ...grants.filter((g) => g.user === p && live(g))].some((g) => GRANTABLE[g.role].includes(role) && covers(g.at, at));
          const stateOf = (r: ModelRequest) => (r.state === 'pending' && now() >= r.lapsesAt ? 'lapsed' : r.state);
          const expectError = async (p: Promise<unknown>, code: string, what: string) => {
            try {
              await p;
            } catch (e) {
              if (isAppError(e) && e.code === code) return;
              throw new Error(`${what}: expected ${code}, got ${isAppError(e) ? e.code : String(e)}`);
            }
            throw new Error(`${what}: expected ${code}, but it succeeded`);
          };

          for (const step of steps) {
            if (step.t === 'wait') {
              env.clock.advance(step.ms);
            } else if (step.t === 'request') {
              const ask = ASKS[step.ask]!;
              const dup = reqs.some((r) => r.by === step.who && r.ask === ask && stateOf(r) === 'pending');
              const call = s.access.request(await actorOf(step.who), { kind: 'role', role: ask.role, locationId: where[ask.at], justification: 'model-based test request', durationHours: step.hours });
              if (dup) {
                await expectError(call, 'access.duplicate_request', 'a second pending request for the same thing');
              } else {
                const r = await call;
                assert.equal(r.requiredApprovals, ask.required, 'approvals needed');
                reqs.push({ id: r.id, by: step.who, ask, hours: step.hours, state: 'pending', lapsesAt: now() + WEEK, decided: new Set(), approvals: 0 });
              }
            } else if (step.t === 'decide') {
              const r = reqs[step.req];
              if (!r) continue;
              const call = s.access.decide(await actorOf(step.who), r.id, { decision: step.approve ? 'approve' : 'deny', reason: 'model' });
              if (step.who === r.by) await expectError(call, 'access.self_approval', 'deciding one’s own request');
              else if (!mayGrant(step.who, r.ask.role, r.ask.at)) await expectError(call, 'auth.forbidden', `${step.who} deciding ${r.ask.role}@${r.ask.at}`);
              else if (stateOf(r) !== 'pending') await expectError(call, 'access.not_pending', `deciding a ${stateOf(r)} request`);
              else if (r.decided.has(step.who)) await expectError(call, 'access.already_decided', 'deciding twice');
              else {
                const view = await call;
                r.decided.add(step.who);
                if (!step.approve) r.state = 'denied';
                else if (++r.approvals >= r.ask.required) {
                  r.state = 'approved';
                  grants.push({ id: view.grantId!, user: r.by, role: r.ask.role, at: r.ask.at, endsAt: now() + r.hours * 3600_000, revoked: false });
                }
                assert.equal(view.state, r.state, 'state after the decision');
                assert.equal(view.grantId !== null, r.state === 'approved', 'a grant exactly when approved');
              }
            } else if (step.t === 'cancel') {
              const r = reqs[step.req];
              if (!r) continue;
              const call = s.access.cancel(await actorOf(step.who), r.id);
              if (step.who !== r.by) await expectError(call, 'access.request_not_found', 'withdrawing someone else’s request');
              else if (stateOf(r) !== 'pending') await expectError(call, 'access.not_pending', `withdrawing a ${stateOf(r)} request`);
              else {
                await call;
                r.state = 'cancelled';
              }
            } else {
              const g = grants[step.grant];
              if (!g) continue;
              const call = s.access.revoke(await actorOf('owner'), g.id, { reason: 'model' });
              if (!live(g)) await expectError(call, 'access.not_pending', 'revoking an ended grant');
              else {
                await call;
                g.revoked = true;
              }
            }

            // Invariants, as of now.
            for (const p of PEOPLE) {
              const actor = await actorOf(p);
              const got = new Set(actor.kind === 'user' ? actor.grants.filter((g) => g.kind === 'role' && grants.some((m) => m.id === g.id)).map((g) => g.id) : []);
              const want = new Set(grants.filter((g) => g.user === p && live(g)).map((g) => g.id));
              assert.deepEqual([...got].sort(), [...want].sort(), `${p}'s live grants`);
              // The policy, at use time: technician on U2 works exactly while such a grant (or a covering base role) is live.
              const onU2 = isAllowed(actor, 'lock.operate', { locationPath: paths.u2 }, env.clock.now());
              const wantU2 = ['owner', 'admin', 'manager'].includes(p) || grants.some((g) => g.user === p && live(g) && covers(g.at, 'u2'));
              assert.equal(onU2, wantU2, `${p} may operate locks in U2`);
            }
          }
          // Stored facts: nobody decided their own request; one grant per approved request, with its end.
          const selfDecided = await s.ctx.db.execute(sql`select count(*)::int as n from access_decisions d join access_requests r on r.id = d.request_id where d.approver_id = r.requester_id`);
          assert.equal(Number((selfDecided as { rows: { n: number }[] }).rows[0]!.n), 0);
          for (const r of reqs.filter((x) => x.state === 'approved')) {
            const res: unknown = await s.ctx.db.execute(sql`select id, expires_at from access_grants where request_id = ${r.id}`);
            const rows = res as { rows: { id: string; expires_at: Date | string }[] };
            assert.equal(rows.rows.length, 1, 'exactly one grant per approved request');
            const g = grants.find((x) => x.id === rows.rows[0]!.id);
            assert.ok(g, 'the grant is the one the approval reported');
            assert.equal(new Date(rows.rows[0]!.expires_at).getTime(), g.endsAt, 'it ends durationHours after the last approval');
          }
        }),
        { numRuns: 30, verbose: true },
      );
    });
  });
}
