/**
 * The authorization matrix: every API operation × every role × where the target sits relative to the
 * role's grant (the granted unit itself, a sibling unit, the building above, another site) × the
 * grant's state (active, expired, revoked). Each role is granted on one unit (Unit A301). The
 * expected answer comes from the policy as written here (WRITTEN, GRANTABLE), not from the code under
 * test: allowed cells must succeed (fresh targets are made for them), denied cells must be refused
 * (403, or 404 where the route hides what the reader may not see) and lists must hold nothing from
 * outside the unit. Every operation in the OpenAPI document must have a row here, so a new route
 * cannot skip the matrix. The step-up state is a further dimension for the acts that need a fresh
 * "confirm it's you" (reveals, a PDF with secrets, tokens, key rotation, the policy, backups, second
 * factors): sessions that have not confirmed are refused with auth.step_up_required exactly where the
 * policy allows the act, refused as before everywhere else, and allowed once they confirm.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { generateSync } from 'otplib';
import type { Actor, Role } from '../../src/domain/identity.js';
import { familyDefaults } from '../../src/domain/lock-models.js';
import { secretExportKey, Throttle } from '../../src/services/throttle.js';
import { jpeg } from '../helpers/images.js';
import { asSession, injectAs, OWNER_EMAIL, OWNER_PASSWORD, signIn, stepUp, testApp, type HttpEnv, type Session } from '../helpers/http.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };
const ROLES: Role[] = ['owner', 'admin', 'manager', 'technician', 'auditor', 'occupant'];
/** Roles whose cells run (all by default; MATRIX_ROLES=occupant,technician narrows a local run). */
const RUN_ROLES: Role[] = process.env.MATRIX_ROLES ? ROLES.filter((r) => process.env.MATRIX_ROLES!.split(',').includes(r)) : ROLES;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
const RELATIONS = ['own unit', 'sibling unit', 'parent building', 'other site'] as const;
type Relation = (typeof RELATIONS)[number];
const STATES = ['active', 'expired', 'revoked'] as const;
type State = (typeof STATES)[number];

// The policy as written (kept apart from src/domain/identity.ts on purpose).
const HB = ['handbook.read', 'handbook.write', 'handbook.verify', 'handbook.reveal'];
const CRED = ['credential.read', 'credential.write', 'credential.reveal', 'lock.operate'];
const RST = ['reset.read', 'reset.manage', 'reset.perform', 'reset.approve'];
const ALL = ['location.read', 'location.write', 'model.read', 'model.write', 'lock.read', 'lock.write', 'lock.retire', ...CRED, 'user.read', 'user.write', 'access.grant', 'token.manage_own', ...HB, 'keys.rotate', 'audit.read', ...RST];
const WRITTEN: Record<Role, string[]> = {
  owner: ALL,
  admin: ALL,
  manager: ['location.read', 'location.write', 'model.read', 'lock.read', 'lock.write', 'lock.retire', ...CRED, 'user.read', 'user.write', 'access.grant', 'token.manage_own', ...HB, ...RST],
  technician: ['location.read', 'model.read', 'lock.read', 'credential.read', 'lock.operate', 'token.manage_own', 'handbook.read', 'handbook.verify', 'reset.read', 'reset.perform'],
  auditor: ['location.read', 'model.read', 'lock.read', 'credential.read', 'user.read', 'token.manage_own', 'handbook.read', 'audit.read', 'reset.read'],
  occupant: ['location.read', 'lock.read', 'credential.read', 'token.manage_own'],
};
/** Who may hand out the technician role (the one the access rows ask for). */
const GRANTS_TECHNICIAN: Role[] = ['owner', 'admin', 'manager'];

interface Cell {
  role: Role;
  relation: Relation;
  state: State;
}
interface Request {
  method: string;
  url: string;
  payload?: unknown;
  headers?: Record<string, string>;
}
/**
 * How an operation is judged:
 * - place: the target sits at the relation's place; allowed iff active, the role has `action`, and the
 *   place is inside the grant (only the own unit);
 * - list / anywhere: allowed iff active and the role has the action(s) somewhere; lists are checked
 *   for content from outside the unit;
 * - org: the organisation itself, never covered by a unit grant;
 * - self: one's own things, allowed to any signed-in person.
 */
interface Row {
  op: string;
  kind: 'place' | 'list' | 'anywhere' | 'org' | 'self';
  actions?: string[];
  /** Overrides the written-policy expectation (for rows whose authority is not one action). */
  expect?: (c: Cell) => boolean;
  /** Statuses that prove the request got past authorization when a 2xx is not possible (documented per row). */
  passed?: number[];
  /**
   * The status a refusal takes. Default: for a thing addressed by its id in the path (`{id}`), 404
   * where the reader's grants do not reach its place (they may not know it exists: the same answer as
   * a random id), 403 where they do; 403 for everything else.
   */
  refused?: number | ((c: Cell) => number);
  /** Why a refused real id and a random id may still differ in error code (compared otherwise). */
  oracleKnown?: string;
  /** The act needs a fresh step-up: also judged with sessions that have not confirmed it's them. */
  stepUp?: boolean;
  build: (c: Cell, allowed: boolean) => Promise<Request>;
}

describe('authorization matrix: every route × role × scope relation × grant state', () => {
  let env: HttpEnv;
  let owner: Session;
  const sessions = new Map<string, Session>();
  /** Sessions of a second user per role and grant state that have not confirmed it's them (no step-up). */
  const unconfirmed = new Map<string, Session>();
  const key = (role: Role, state: State) => `${role}:${state}`;
  const passwordOf = (c: Pick<Cell, 'role' | 'state'>) => `${c.role} ${c.state} password`;
  /** The cell's own session: rows about one's own second factors act in it. */
  const own = (c: Cell) => sessions.get(key(c.role, c.state))!;
  const place: Record<Relation, { lockId: string; locationId: string; modelId: string; doorParent: string }> = {} as never;
  let unitId = '';
  let integrationId = '';
  let grantee = '';
  let requester: Session;
  let n = 0;
  const uniq = () => `${Date.now().toString(36)}${(n++).toString(36)}`;
  const svc = () => env.services;

  /** A fresh lock at the relation's place (for allowed cells, so earlier cells cannot spoil them). */
  async function freshLock(rel: Relation): Promise<string> {
    const p = place[rel];
    const lock = await svc().locks.create(SYSTEM, { name: `Matrix lock ${uniq()}`, modelId: p.modelId, locationId: p.locationId, driver: 'none', externalId: null });
    return lock.id;
  }
  const lockFor = async (c: Cell, fresh: boolean) => (fresh ? freshLock(c.relation) : place[c.relation].lockId);
  async function pinOn(lockId: string): Promise<string> {
    const id = (await svc().credentials.addPin(SYSTEM, lockId, { holder: `Holder ${uniq()}` })).credential.id;
    pinLocks.set(id, lockId);
    return id;
  }
  async function overrideOn(lockId: string): Promise<string> {
    const lock = await svc().locks.get(SYSTEM, lockId);
    const base = (await svc().handbook.forLock(SYSTEM, lockId)).entry!;
    const e = await svc().handbook.create(SYSTEM, { modelId: lock.modelId, lockId, content: { ...base.content, title: `Override ${lock.name}`, generic: false }, reason: 'matrix' });
    return e.id;
  }
  const pins = new Map<Relation, string>();
  /** A PIN at the relation's place: a fresh one for allowed cells, one shared by the refused ones. */
  async function pinFor(c: Cell, fresh: boolean): Promise<string> {
    if (fresh) return pinOn(await freshLock(c.relation));
    if (!pins.has(c.relation)) pins.set(c.relation, await pinOn(place[c.relation].lockId));
    return pins.get(c.relation)!;
  }
  /** Which lock each PIN made here sits on. */
  const pinLocks = new Map<string, string>();
  const entries = new Map<string, string>();
  async function entryFor(c: Cell, fresh: boolean): Promise<string> {
    if (fresh) return overrideOn(await freshLock(c.relation));
    const k = place[c.relation].lockId;
    if (!entries.has(k)) entries.set(k, (await svc().handbook.forLock(SYSTEM, k)).entry!.id);
    return entries.get(k)!;
  }
  /** An open alert on the relation's lock: a fresh lock's for allowed cells (acknowledging closes it), else the place's own. */
  const alerts = new Map<Relation, string>();
  async function alertFor(c: Cell, fresh: boolean): Promise<string> {
    if (!fresh && alerts.has(c.relation)) return alerts.get(c.relation)!;
    return (await svc().alerts.raise(SYSTEM, await lockFor(c, fresh), 'tamper', { detail: 'matrix', source: 'matrix' })).id;
  }
  // Refused cells share one secret and one attachment per place (an entry holds at most 20 photos).
  const secrets = new Map<Relation, string>();
  async function secretFor(c: Cell, fresh: boolean): Promise<string> {
    const make = async () => (await svc().handbook.addSecret(SYSTEM, await entryFor(c, fresh), { kind: 'master_code', value: '55501234' })).id;
    if (fresh) return make();
    if (!secrets.has(c.relation)) secrets.set(c.relation, await make());
    return secrets.get(c.relation)!;
  }
  const attachments = new Map<Relation, { entryId: string; aid: string }>();
  async function attachmentFor(c: Cell, fresh: boolean): Promise<{ entryId: string; aid: string }> {
    const make = async () => {
      const entryId = await entryFor(c, fresh);
      const a = await svc().attachments.add(SYSTEM, entryId, { bytes: await jpeg(40, 30), filename: 'door.jpg', meta: { caption: 'door' } });
      return { entryId, aid: a.id };
    };
    if (fresh) return make();
    if (!attachments.has(c.relation)) attachments.set(c.relation, await make());
    return attachments.get(c.relation)!;
  }
  /** A practice run of the relation's entry, started by the local CLI (so it is nobody's in the matrix). */
  const practiceRuns = new Map<Relation, string>();
  async function practiceRunAt(c: Cell): Promise<string> {
    if (!practiceRuns.has(c.relation)) practiceRuns.set(c.relation, (await svc().practice.start(SYSTEM, await entryFor(c, false))).id);
    return practiceRuns.get(c.relation)!;
  }
  const locationAt = (rel: Relation) => place[rel].doorParent;
  /** The unit at (or, for the building, a unit below) the relation's place. */
  const unitAt = (rel: Relation) => (rel === 'parent building' ? place['sibling unit'].doorParent : place[rel].doorParent);
  /** A fresh week-long stay far in the future (each one after the last, so they never overlap). */
  let stayWeek = 0;
  const stayTimes = () => {
    const start = Date.UTC(2030, 0, 1) + stayWeek++ * 7 * 86400_000;
    return { checkIn: new Date(start).toISOString(), checkOut: new Date(start + 3 * 86400_000).toISOString() };
  };
  // Reset cases: a fresh one in preflight for allowed cells, one shared per place for the others.
  const cases = new Map<Relation, string>();
  async function openCaseOn(lockId: string, description: string): Promise<string> {
    const v = await svc().resetCases.open(SYSTEM, { lockId, reason: 'pairing_loop', description });
    await svc().resetCases.step(SYSTEM, v.case.id, { idempotencyKey: `decide-${uniq()}`, command: { type: 'decide', remedy: 'full_reset' } });
    return v.case.id;
  }
  async function caseFor(c: Cell, fresh: boolean): Promise<string> {
    if (fresh) return openCaseOn(await freshLock(c.relation), 'matrix case');
    return cases.get(c.relation)!;
  }
  // A photo on a case: on a fresh case for allowed cells, one shared per place for the others.
  const photos = new Map<Relation, { caseId: string; pid: string }>();
  async function photoFor(c: Cell, fresh: boolean): Promise<{ caseId: string; pid: string }> {
    const make = async () => {
      const caseId = await caseFor(c, fresh);
      return { caseId, pid: (await svc().resetPhotos.add(SYSTEM, caseId, { bytes: await jpeg(40, 30), filename: 'latch.jpg' })).id };
    };
    if (fresh) return make();
    if (!photos.has(c.relation)) photos.set(c.relation, await make());
    return photos.get(c.relation)!;
  }
  async function grantAt(rel: Relation): Promise<string> {
    return (await svc().access.grant(SYSTEM, { userId: grantee, role: 'technician', locationId: locationAt(rel) })).id;
  }
  async function requestAt(rel: Relation): Promise<string> {
    const r = await injectAs(env.app, asSession(requester), { method: 'POST', url: '/api/access/requests', payload: { kind: 'role', role: 'technician', locationId: locationAt(rel), justification: `matrix request ${uniq()}`, durationHours: 1 } });
    if (r.statusCode !== 201) {
      // The requester already asked for this place: withdraw it, then ask again.
      const mine = (await injectAs(env.app, asSession(requester), { method: 'GET', url: '/api/access/requests?view=mine' })).json<{ items: { id: string; state: string; locationId: string }[] }>().items;
      for (const m of mine.filter((x) => x.state === 'pending' && x.locationId === locationAt(rel))) await injectAs(env.app, asSession(requester), { method: 'POST', url: `/api/access/requests/${m.id}/cancel` });
      return requestAt(rel);
    }
    return r.json<{ id: string }>().id;
  }
  const has = (c: Cell, actions: string[]) => c.state === 'active' && actions.every((a) => WRITTEN[c.role].includes(a));
  /** A thing named by an id in the body: not found to a reader whose grants do not reach its place. */
  const hiddenUnlessSeen = (c: Cell) => (c.state === 'active' && c.relation === 'own unit' ? 403 : 404);
  const decides = (c: Cell) => c.state === 'active' && c.relation === 'own unit' && GRANTS_TECHNICIAN.includes(c.role);

  const ROWS: Row[] = [
    // Signed in, nothing else needed.
    { op: 'GET /api/meta', kind: 'self', build: async () => ({ method: 'GET', url: '/api/meta' }) },
    { op: 'GET /api/auth/me', kind: 'self', build: async () => ({ method: 'GET', url: '/api/auth/me' }) },
    { op: 'GET /api/notifications', kind: 'self', build: async () => ({ method: 'GET', url: '/api/notifications' }) },
    { op: 'POST /api/notifications/read', kind: 'self', build: async () => ({ method: 'POST', url: '/api/notifications/read' }) },
    { op: 'GET /api/access/requests', kind: 'self', build: async () => ({ method: 'GET', url: '/api/access/requests?view=inbox' }) },
    {
      op: 'POST /api/access/requests',
      kind: 'self',
      build: async (c) => ({ method: 'POST', url: '/api/access/requests', payload: { kind: 'role', role: 'technician', locationId: locationAt(c.relation), justification: `need it for a job ${uniq()}`, durationHours: 2 } }),
    },
    // One's own tokens: any live grant.
    { op: 'GET /api/tokens', kind: 'anywhere', actions: ['token.manage_own'], build: async () => ({ method: 'GET', url: '/api/tokens' }) },
    { op: 'POST /api/tokens', kind: 'anywhere', actions: ['token.manage_own'], stepUp: true, build: async () => ({ method: 'POST', url: '/api/tokens', payload: { name: `t ${uniq()}` } }) },
    {
      op: 'DELETE /api/tokens/{id}',
      kind: 'anywhere',
      actions: ['token.manage_own'],
      // Deleting someone else's token id is "not found" to the caller; allowed cells delete their own.
      passed: [404],
      build: async () => ({ method: 'DELETE', url: '/api/tokens/00000000-0000-4000-8000-000000000000' }),
    },
    // Locations.
    { op: 'GET /api/locations/tree', kind: 'list', actions: ['location.read'], build: async () => ({ method: 'GET', url: '/api/locations/tree' }) },
    { op: 'GET /api/locations', kind: 'list', actions: ['location.read'], build: async () => ({ method: 'GET', url: '/api/locations' }) },
    { op: 'POST /api/locations', kind: 'place', actions: ['location.write'], build: async (c) => ({ method: 'POST', url: '/api/locations', payload: { parentId: locationAt(c.relation), kind: 'door', name: `Door ${uniq()}` } }) },
    { op: 'GET /api/locations/{id}', kind: 'place', actions: ['location.read'], build: async (c) => ({ method: 'GET', url: `/api/locations/${locationAt(c.relation)}` }) },
    { op: 'PATCH /api/locations/{id}', kind: 'place', actions: ['location.write'], build: async (c) => ({ method: 'PATCH', url: `/api/locations/${place[c.relation].locationId}`, payload: { name: `Renamed ${uniq()}` } }) },
    {
      op: 'PUT /api/locations/{id}/document-owner',
      // The site is above every cell's unit: outside each grant, it does not exist for them.
      refused: 404,
      kind: 'org',
      // Only a site has a document owner; a unit grant never covers its site.
      build: async () => ({ method: 'PUT', url: `/api/locations/${siteOfUnit}/document-owner`, payload: { userId: null } }),
    },
    // The model catalogue.
    { op: 'GET /api/models', kind: 'anywhere', actions: ['model.read'], build: async () => ({ method: 'GET', url: '/api/models' }) },
    { op: 'GET /api/models/{id}', kind: 'anywhere', actions: ['model.read'], build: async (c) => ({ method: 'GET', url: `/api/models/${place[c.relation].modelId}` }) },
    { op: 'POST /api/models', kind: 'org', build: async () => ({ method: 'POST', url: '/api/models', payload: { manufacturer: 'Matrix', modelNumber: uniq(), ...familyDefaults('keypad_entry') } }) },
    { op: 'PATCH /api/models/{id}', kind: 'org', build: async (c) => ({ method: 'PATCH', url: `/api/models/${place[c.relation].modelId}`, payload: { name: 'renamed' } }) },
    { op: 'DELETE /api/models/{id}', kind: 'org', build: async (c) => ({ method: 'DELETE', url: `/api/models/${place[c.relation].modelId}` }) },
    // Locks.
    { op: 'GET /api/locks', kind: 'list', actions: ['lock.read'], build: async () => ({ method: 'GET', url: '/api/locks?limit=200' }) },
    {
      op: 'POST /api/locks',
      kind: 'place',
      actions: ['lock.write'],
      build: async (c) => ({ method: 'POST', url: '/api/locks', payload: { name: `New ${uniq()}`, modelId: place[c.relation].modelId, locationId: place[c.relation].locationId, driver: 'none' } }),
    },
    { op: 'GET /api/locks/{id}', kind: 'place', actions: ['lock.read'], build: async (c, a) => ({ method: 'GET', url: `/api/locks/${await lockFor(c, a)}` }) },
    { op: 'PATCH /api/locks/{id}', kind: 'place', actions: ['lock.write'], build: async (c, a) => ({ method: 'PATCH', url: `/api/locks/${await lockFor(c, a)}`, payload: { notes: uniq() } }) },
    { op: 'POST /api/locks/{id}/retire', kind: 'place', actions: ['lock.retire'], build: async (c, a) => ({ method: 'POST', url: `/api/locks/${await lockFor(c, a)}/retire`, payload: { reason: 'matrix retire' } }) },
    { op: 'GET /api/locks/{id}/credentials', kind: 'place', actions: ['credential.read'], build: async (c, a) => ({ method: 'GET', url: `/api/locks/${await lockFor(c, a)}/credentials` }) },
    { op: 'POST /api/locks/{id}/pins', kind: 'place', actions: ['credential.write'], build: async (c, a) => ({ method: 'POST', url: `/api/locks/${await lockFor(c, a)}/pins`, payload: { holder: `Guest ${uniq()}` } }) },
    { op: 'POST /api/locks/{id}/refresh', kind: 'place', actions: ['credential.read'], build: async (c, a) => ({ method: 'POST', url: `/api/locks/${await lockFor(c, a)}/refresh` }) },
    {
      op: 'POST /api/locks/{id}/unmanaged/adopt',
      kind: 'place',
      actions: ['credential.write'],
      // No unmanaged code sits in slot 200: past authorization the answer is "no code there" (404).
      passed: [404],
      build: async (c, a) => ({ method: 'POST', url: `/api/locks/${await lockFor(c, a)}/unmanaged/adopt`, payload: { slot: 200, holder: 'Found' } }),
    },
    { op: 'POST /api/locks/{id}/unmanaged/remove', kind: 'place', actions: ['credential.write'], passed: [404], build: async (c, a) => ({ method: 'POST', url: `/api/locks/${await lockFor(c, a)}/unmanaged/remove`, payload: { slot: 200 } }) },
    {
      op: 'GET /api/locks/{id}/controllers',
      kind: 'place',
      actions: ['credential.write'],
      // A live read of the lock: one without a device cannot list controllers (400) past authorization.
      passed: [400],
      build: async (c, a) => ({ method: 'GET', url: `/api/locks/${await lockFor(c, a)}/controllers` }),
    },
    {
      op: 'DELETE /api/locks/{id}/controllers/{controllerId}',
      kind: 'place',
      actions: ['credential.write'],
      // A lock without a device cannot list controllers (400), or has none by that id (404).
      passed: [400, 404],
      build: async (c, a) => ({ method: 'DELETE', url: `/api/locks/${await lockFor(c, a)}/controllers/nobody` }),
    },
    // A lock with no device (driver "none") cannot be operated: 400 device.not_supported past authorization.
    { op: 'POST /api/locks/{id}/lock', kind: 'place', actions: ['lock.operate'], passed: [400], build: async (c, a) => ({ method: 'POST', url: `/api/locks/${await lockFor(c, a)}/lock` }) },
    { op: 'POST /api/locks/{id}/unlock', kind: 'place', actions: ['lock.operate'], passed: [400], build: async (c, a) => ({ method: 'POST', url: `/api/locks/${await lockFor(c, a)}/unlock` }) },
    { op: 'GET /api/locks/{id}/events', kind: 'place', actions: ['lock.read'], build: async (c, a) => ({ method: 'GET', url: `/api/locks/${await lockFor(c, a)}/events` }) },
    { op: 'GET /api/alerts', kind: 'list', actions: ['lock.read'], build: async () => ({ method: 'GET', url: '/api/alerts' }) },
    {
      op: 'POST /api/alerts/{id}/acknowledge',
      kind: 'place',
      actions: ['lock.operate'],
      build: async (c, a) => ({ method: 'POST', url: `/api/alerts/${await alertFor(c, a)}/acknowledge`, payload: { note: 'looked at it' } }),
    },
    { op: 'GET /api/locks/{id}/handbook', kind: 'place', actions: ['handbook.read'], build: async (c, a) => ({ method: 'GET', url: `/api/locks/${await lockFor(c, a)}/handbook` }) },
    {
      op: 'POST /api/simulator/locks/{id}/drift',
      kind: 'place',
      actions: ['lock.read', 'credential.write'],
      // Only simulated locks can drift: the fresh lock has no device, 400 past authorization.
      passed: [400],
      build: async (c, a) => ({ method: 'POST', url: `/api/simulator/locks/${await lockFor(c, a)}/drift`, payload: { slot: 30, code: '4455' } }),
    },
    // The virtual front panel: the fresh lock has no device, 400 past authorization.
    { op: 'GET /api/simulator/locks/{id}/panel', kind: 'place', actions: ['lock.read', 'reset.perform'], passed: [400], build: async (c, a) => ({ method: 'GET', url: `/api/simulator/locks/${await lockFor(c, a)}/panel` }) },
    {
      op: 'POST /api/simulator/locks/{id}/panel',
      kind: 'place',
      actions: ['lock.read', 'reset.perform'],
      passed: [400],
      build: async (c, a) => ({ method: 'POST', url: `/api/simulator/locks/${await lockFor(c, a)}/panel`, payload: { type: 'press_reset' } }),
    },
    // Practice runs: starting one takes reset rights where the entry applies; a run is its starter's alone
    // (someone else's does not exist for you: the matrix's runs are the local CLI's, so every cell is 404).
    { op: 'POST /api/handbook/entries/{id}/practice-runs', kind: 'place', actions: ['handbook.read', 'reset.perform'], build: async (c, a) => ({ method: 'POST', url: `/api/handbook/entries/${await entryFor(c, a)}/practice-runs` }) },
    { op: 'GET /api/handbook/entries/{id}/practice-runs', kind: 'place', actions: ['handbook.read'], build: async (c, a) => ({ method: 'GET', url: `/api/handbook/entries/${await entryFor(c, a)}/practice-runs` }) },
    { op: 'GET /api/practice-runs/{id}', kind: 'place', expect: () => false, refused: 404, build: async (c) => ({ method: 'GET', url: `/api/practice-runs/${await practiceRunAt(c)}` }) },
    { op: 'GET /api/practice-runs/{id}/panel', kind: 'place', expect: () => false, refused: 404, build: async (c) => ({ method: 'GET', url: `/api/practice-runs/${await practiceRunAt(c)}/panel` }) },
    { op: 'POST /api/practice-runs/{id}/panel', kind: 'place', expect: () => false, refused: 404, build: async (c) => ({ method: 'POST', url: `/api/practice-runs/${await practiceRunAt(c)}/panel`, payload: { type: 'clear_keys' } }) },
    { op: 'POST /api/practice-runs/{id}/finish', kind: 'place', expect: () => false, refused: 404, build: async (c) => ({ method: 'POST', url: `/api/practice-runs/${await practiceRunAt(c)}/finish` }) },
    // Credentials.
    {
      op: 'PATCH /api/credentials/{id}',
      kind: 'place',
      actions: ['credential.write'],
      build: async (c, a) => {
        const id = await pinFor(c, a);
        const cred = (await svc().credentials.forLock(SYSTEM, pinLocks.get(id)!)).credentials.find((x) => x.id === id)!;
        return { method: 'PATCH', url: `/api/credentials/${id}`, payload: { holder: `Renamed ${uniq()}`, version: cred.version } };
      },
    },
    { op: 'DELETE /api/credentials/{id}', kind: 'place', actions: ['credential.write'], build: async (c, a) => ({ method: 'DELETE', url: `/api/credentials/${await pinFor(c, a)}` }) },
    // Only a failed PIN can be retried: a pending one is 409 past authorization.
    { op: 'POST /api/credentials/{id}/retry', kind: 'place', actions: ['credential.write'], passed: [409], build: async (c, a) => ({ method: 'POST', url: `/api/credentials/${await pinFor(c, a)}/retry` }) },
    { op: 'POST /api/credentials/{id}/reveal', kind: 'place', actions: ['credential.reveal'], stepUp: true, build: async (c, a) => ({ method: 'POST', url: `/api/credentials/${await pinFor(c, a)}/reveal`, payload: { reason: 'matrix' } }) },
    // Bulk changes.
    { op: 'GET /api/bulk', kind: 'list', actions: ['credential.read'], build: async () => ({ method: 'GET', url: '/api/bulk' }) },
    { op: 'POST /api/bulk', kind: 'place', actions: ['credential.write'], build: async (c, a) => ({ method: 'POST', url: '/api/bulk', payload: { target: { lockIds: [await lockFor(c, a)] }, add: [{ holder: `Bulk ${uniq()}` }] } }) },
    {
      op: 'GET /api/bulk/{id}',
      // A bulk change is not a place: refused as such (its id is random and unguessable).
      refused: 403,
      kind: 'place',
      actions: ['credential.read'],
      build: async (c, a) => ({ method: 'GET', url: `/api/bulk/${(await svc().credentials.bulkChange(SYSTEM, { target: { lockIds: [await lockFor(c, a)] }, add: [{ holder: `B ${uniq()}` }] })).id}` }),
    },
    // The handbook.
    { op: 'GET /api/handbook/entries', kind: 'list', actions: ['handbook.read'], build: async () => ({ method: 'GET', url: '/api/handbook/entries' }) },
    { op: 'GET /api/handbook/stale', kind: 'list', actions: ['handbook.read'], build: async () => ({ method: 'GET', url: '/api/handbook/stale' }) },
    { op: 'GET /api/handbook/search', kind: 'list', actions: ['handbook.read'], build: async () => ({ method: 'GET', url: '/api/handbook/search?q=Override' }) },
    { op: 'GET /api/handbook/toc', kind: 'list', actions: ['handbook.read'], build: async () => ({ method: 'GET', url: '/api/handbook/toc' }) },
    { op: 'GET /api/handbook/export.pdf', kind: 'list', actions: ['handbook.read'], build: async () => ({ method: 'GET', url: '/api/handbook/export.pdf' }) },
    // The same PDF with its secrets: the right to reveal somewhere, and a fresh step-up.
    {
      op: 'GET /api/handbook/export.pdf',
      kind: 'list',
      actions: ['handbook.read', 'handbook.reveal'],
      stepUp: true,
      build: async (c) => {
        // At most 3 such exports a minute per account, and the test clock stands still: the matrix asks
        // 4 times per account (once per relation), so the cell's accounts start each time with none counted.
        const ids = [sessions, unconfirmed].map((m) => secretExportKey(m.get(key(c.role, c.state))!.body.user.id));
        await new Throttle(svc().ctx).clear(ids);
        return { method: 'GET', url: '/api/handbook/export.pdf?includeSecrets=true&reason=matrix%20binder' };
      },
    },
    { op: 'GET /api/handbook/templates', kind: 'anywhere', actions: ['handbook.read'], build: async () => ({ method: 'GET', url: '/api/handbook/templates' }) },
    { op: 'POST /api/handbook/templates/apply', kind: 'org', build: async (c) => ({ method: 'POST', url: '/api/handbook/templates/apply', payload: { modelId: place[c.relation].modelId } }) },
    {
      op: 'POST /api/handbook/entries',
      refused: hiddenUnlessSeen,
      kind: 'place',
      actions: ['handbook.write'],
      build: async (c) => {
        const lockId = await freshLock(c.relation);
        const base = (await svc().handbook.forLock(SYSTEM, lockId)).entry!;
        return { method: 'POST', url: '/api/handbook/entries', payload: { modelId: place[c.relation].modelId, lockId, content: { ...base.content, generic: false }, reason: 'matrix override' } };
      },
    },
    { op: 'GET /api/handbook/entries/{id}', kind: 'place', actions: ['handbook.read'], build: async (c, a) => ({ method: 'GET', url: `/api/handbook/entries/${await entryFor(c, a)}` }) },
    {
      op: 'PUT /api/handbook/entries/{id}',
      kind: 'place',
      actions: ['handbook.write'],
      build: async (c, a) => {
        const id = await entryFor(c, a);
        const e = await svc().handbook.get(SYSTEM, id);
        return { method: 'PUT', url: `/api/handbook/entries/${id}`, payload: { content: e.content, reason: 'matrix save', expectedRevision: e.revision } };
      },
    },
    { op: 'GET /api/handbook/entries/{id}/revisions', kind: 'place', actions: ['handbook.read'], build: async (c, a) => ({ method: 'GET', url: `/api/handbook/entries/${await entryFor(c, a)}/revisions` }) },
    { op: 'GET /api/handbook/entries/{id}/revisions/{revision}', kind: 'place', actions: ['handbook.read'], build: async (c, a) => ({ method: 'GET', url: `/api/handbook/entries/${await entryFor(c, a)}/revisions/1` }) },
    { op: 'GET /api/handbook/entries/{id}/diff', kind: 'place', actions: ['handbook.read'], build: async (c, a) => ({ method: 'GET', url: `/api/handbook/entries/${await entryFor(c, a)}/diff?from=1&to=1` }) },
    { op: 'POST /api/handbook/entries/{id}/verify', kind: 'place', actions: ['handbook.verify'], build: async (c, a) => ({ method: 'POST', url: `/api/handbook/entries/${await entryFor(c, a)}/verify`, payload: {} }) },
    {
      op: 'GET /api/handbook/entries/{id}/reveals',
      kind: 'place',
      // Who revealed what: for those who may reveal or change the entry's secrets, and auditors.
      expect: (c) => c.state === 'active' && c.relation === 'own unit' && ['handbook.reveal', 'handbook.write', 'audit.read'].some((a) => WRITTEN[c.role].includes(a)),
      build: async (c, a) => ({ method: 'GET', url: `/api/handbook/entries/${await entryFor(c, a)}/reveals` }),
    },
    { op: 'POST /api/handbook/entries/{id}/secrets', kind: 'place', actions: ['handbook.write'], build: async (c, a) => ({ method: 'POST', url: `/api/handbook/entries/${await entryFor(c, a)}/secrets`, payload: { kind: 'master_code', value: '11223344' } }) },
    { op: 'DELETE /api/handbook/secrets/{id}', kind: 'place', actions: ['handbook.write'], build: async (c, a) => ({ method: 'DELETE', url: `/api/handbook/secrets/${await secretFor(c, a)}` }) },
    { op: 'POST /api/handbook/secrets/{id}/reveal', kind: 'place', actions: ['handbook.reveal'], stepUp: true, build: async (c, a) => ({ method: 'POST', url: `/api/handbook/secrets/${await secretFor(c, a)}/reveal`, payload: { reason: 'matrix' } }) },
    {
      op: 'POST /api/handbook/entries/{id}/attachments',
      kind: 'place',
      actions: ['handbook.write'],
      build: async (c, a) => ({ method: 'POST', url: `/api/handbook/entries/${await entryFor(c, a)}/attachments`, payload: await jpeg(40, 30), headers: { 'content-type': 'image/jpeg', 'x-filename': 'door.jpg' } }),
    },
    { op: 'GET /api/handbook/entries/{id}/attachments', kind: 'place', actions: ['handbook.read'], build: async (c, a) => ({ method: 'GET', url: `/api/handbook/entries/${await entryFor(c, a)}/attachments` }) },
    { op: 'GET /api/handbook/entries/{id}/attachments/history', kind: 'place', actions: ['handbook.read'], build: async (c, a) => ({ method: 'GET', url: `/api/handbook/entries/${await entryFor(c, a)}/attachments/history` }) },
    {
      op: 'GET /api/handbook/entries/{id}/attachments/{aid}',
      kind: 'place',
      actions: ['handbook.read'],
      build: async (c, a) => {
        const x = await attachmentFor(c, a);
        return { method: 'GET', url: `/api/handbook/entries/${x.entryId}/attachments/${x.aid}` };
      },
    },
    {
      op: 'GET /api/handbook/entries/{id}/attachments/{aid}/thumbnail',
      kind: 'place',
      actions: ['handbook.read'],
      build: async (c, a) => {
        const x = await attachmentFor(c, a);
        return { method: 'GET', url: `/api/handbook/entries/${x.entryId}/attachments/${x.aid}/thumbnail` };
      },
    },
    {
      op: 'DELETE /api/handbook/entries/{id}/attachments/{aid}',
      kind: 'place',
      actions: ['handbook.write'],
      build: async (c, a) => {
        const x = await attachmentFor(c, a);
        return { method: 'DELETE', url: `/api/handbook/entries/${x.entryId}/attachments/${x.aid}` };
      },
    },
    // Integrations: organisation-level, except adopting a device, which is placing a lock. The one
    // integration here is not running, so an allowed adoption gets past authorization to 409 not_running.
    { op: 'GET /api/integrations', kind: 'org', build: async () => ({ method: 'GET', url: '/api/integrations' }) },
    { op: 'POST /api/integrations', kind: 'org', build: async () => ({ method: 'POST', url: '/api/integrations', payload: { driver: 'matter', name: `Matter ${uniq()}` } }) },
    { op: 'GET /api/integrations/{id}', kind: 'org', build: async () => ({ method: 'GET', url: `/api/integrations/${integrationId}` }) },
    { op: 'DELETE /api/integrations/{id}', kind: 'org', build: async () => ({ method: 'DELETE', url: `/api/integrations/${integrationId}` }) },
    { op: 'POST /api/integrations/{id}/restart', kind: 'org', build: async () => ({ method: 'POST', url: `/api/integrations/${integrationId}/restart` }) },
    { op: 'POST /api/integrations/{id}/commission', kind: 'org', build: async () => ({ method: 'POST', url: `/api/integrations/${integrationId}/commission`, payload: { pairingCode: '34970112332' } }) },
    { op: 'GET /api/integrations/{id}/devices', kind: 'org', build: async () => ({ method: 'GET', url: `/api/integrations/${integrationId}/devices` }) },
    {
      op: 'POST /api/integrations/{id}/adopt',
      kind: 'place',
      actions: ['lock.write'],
      passed: [409],
      build: async (c) => ({ method: 'POST', url: `/api/integrations/${integrationId}/adopt`, payload: { externalId: 'node-1', locationId: place[c.relation].locationId } }),
    },
    // Reset cases: opened and closed by managers and above, stepped through by technicians, read by auditors.
    { op: 'GET /api/reset-cases', kind: 'list', actions: ['reset.read'], build: async () => ({ method: 'GET', url: '/api/reset-cases' }) },
    { op: 'POST /api/reset-cases', kind: 'place', refused: hiddenUnlessSeen, actions: ['reset.manage'], build: async (c, a) => ({ method: 'POST', url: '/api/reset-cases', payload: { lockId: await lockFor(c, a), reason: 'pairing_loop' } }) },
    { op: 'GET /api/reset-cases/{id}', kind: 'place', actions: ['reset.read'], build: async (c, a) => ({ method: 'GET', url: `/api/reset-cases/${await caseFor(c, a)}` }) },
    {
      op: 'POST /api/reset-cases/{id}/steps',
      kind: 'place',
      actions: ['reset.perform'],
      build: async (c, a) => ({
        method: 'POST',
        url: `/api/reset-cases/${await caseFor(c, a)}/steps`,
        payload: { idempotencyKey: `matrix-${uniq()}`, command: { type: 'preflight_check', check: 'ownership_confirmed', passed: true, note: 'deed seen' } },
      }),
    },
    // An open case has no close-out record yet: 409 past authorization.
    { op: 'GET /api/reset-cases/{id}/enrollment', kind: 'place', actions: ['reset.perform'], build: async (c, a) => ({ method: 'GET', url: `/api/reset-cases/${await caseFor(c, a)}/enrollment` }) },
    { op: 'GET /api/reset-cases/{id}/record', kind: 'place', actions: ['reset.read'], passed: [409], build: async (c, a) => ({ method: 'GET', url: `/api/reset-cases/${await caseFor(c, a)}/record` }) },
    // Occupancy of units (stays, the calendar feed) is credential work at the unit; the outbox is the organisation's.
    { op: 'GET /api/units/{id}/occupancy', kind: 'place', actions: ['credential.read'], build: async (c) => ({ method: 'GET', url: `/api/units/${unitAt(c.relation)}/occupancy` }) },
    { op: 'PATCH /api/units/{id}/occupancy', kind: 'place', actions: ['credential.write'], build: async (c) => ({ method: 'PATCH', url: `/api/units/${unitAt(c.relation)}/occupancy`, payload: { confirmLeadMinutes: 120 } }) },
    {
      op: 'POST /api/units/{id}/stays',
      kind: 'place',
      actions: ['credential.write'],
      build: async (c) => ({ method: 'POST', url: `/api/units/${unitAt(c.relation)}/stays`, payload: { guestName: `Guest ${uniq()}`, ...stayTimes() } }),
    },
    // No feed URL is set: past authorization the answer is "this unit has no calendar feed URL" (400).
    { op: 'POST /api/units/{id}/feed/poll', kind: 'place', actions: ['credential.write'], passed: [400], build: async (c) => ({ method: 'POST', url: `/api/units/${unitAt(c.relation)}/feed/poll` }) },
    {
      op: 'POST /api/stays/{id}/cancel',
      kind: 'place',
      actions: ['credential.write'],
      build: async (c) => ({ method: 'POST', url: `/api/stays/${(await svc().turnovers.addStay(SYSTEM, unitAt(c.relation), { guestName: `Guest ${uniq()}`, ...stayTimes() })).id}/cancel` }),
    },
    { op: 'GET /api/notification-endpoints', kind: 'org', build: async () => ({ method: 'GET', url: '/api/notification-endpoints' }) },
    { op: 'POST /api/notification-endpoints', kind: 'org', build: async () => ({ method: 'POST', url: '/api/notification-endpoints', payload: { channel: 'email', name: 'Matrix', target: 'ops@example.test' } }) },
    { op: 'DELETE /api/notification-endpoints/{id}', kind: 'org', passed: [404], build: async () => ({ method: 'DELETE', url: '/api/notification-endpoints/00000000-0000-4000-8000-000000000000' }) },
    { op: 'GET /api/outbox', kind: 'org', build: async () => ({ method: 'GET', url: '/api/outbox' }) },
    { op: 'POST /api/outbox/{id}/retry', kind: 'org', passed: [404], build: async () => ({ method: 'POST', url: '/api/outbox/00000000-0000-4000-8000-000000000000/retry' }) },
    // The close-out PDF of an open case: 409 past authorization, like the JSON record.
    { op: 'GET /api/reset-cases/{id}/record.pdf', kind: 'place', actions: ['reset.read'], passed: [409], build: async (c, a) => ({ method: 'GET', url: `/api/reset-cases/${await caseFor(c, a)}/record.pdf` }) },
    {
      op: 'POST /api/reset-cases/{id}/photos',
      kind: 'place',
      actions: ['reset.perform'],
      build: async (c, a) => ({ method: 'POST', url: `/api/reset-cases/${await caseFor(c, a)}/photos`, payload: await jpeg(40, 30), headers: { 'content-type': 'image/jpeg', 'x-filename': 'latch.jpg' } }),
    },
    { op: 'GET /api/reset-cases/{id}/photos', kind: 'place', actions: ['reset.read'], build: async (c, a) => ({ method: 'GET', url: `/api/reset-cases/${await caseFor(c, a)}/photos` }) },
    {
      op: 'GET /api/reset-cases/{id}/photos/{pid}',
      kind: 'place',
      actions: ['reset.read'],
      build: async (c, a) => {
        const x = await photoFor(c, a);
        return { method: 'GET', url: `/api/reset-cases/${x.caseId}/photos/${x.pid}` };
      },
    },
    {
      op: 'GET /api/reset-cases/{id}/photos/{pid}/thumbnail',
      kind: 'place',
      actions: ['reset.read'],
      build: async (c, a) => {
        const x = await photoFor(c, a);
        return { method: 'GET', url: `/api/reset-cases/${x.caseId}/photos/${x.pid}/thumbnail` };
      },
    },
    // The dashboard counts what the reader may see.
    { op: 'GET /api/dashboard', kind: 'list', actions: ['reset.read'], build: async () => ({ method: 'GET', url: '/api/dashboard' }) },
    { op: 'POST /api/keys/rotate', kind: 'org', stepUp: true, build: async () => ({ method: 'POST', url: '/api/keys/rotate' }) },
    // Spreadsheets.
    { op: 'GET /api/export/inventory.csv', kind: 'list', actions: ['lock.read', 'handbook.read'], build: async () => ({ method: 'GET', url: '/api/export/inventory.csv' }) },
    { op: 'GET /api/export/inventory.xlsx', kind: 'list', actions: ['lock.read', 'handbook.read'], build: async () => ({ method: 'GET', url: '/api/export/inventory.xlsx' }) },
    { op: 'GET /api/export/handbook.csv', kind: 'list', actions: ['handbook.read'], build: async () => ({ method: 'GET', url: '/api/export/handbook.csv' }) },
    { op: 'GET /api/export/handbook.xlsx', kind: 'list', actions: ['handbook.read'], build: async () => ({ method: 'GET', url: '/api/export/handbook.xlsx' }) },
    { op: 'POST /api/import/inventory', kind: 'org', build: async () => ({ method: 'POST', url: '/api/import/inventory?dryRun=true', payload: 'location,name\n', headers: { 'content-type': 'text/csv' } }) },
    { op: 'POST /api/import/handbook', kind: 'org', build: async () => ({ method: 'POST', url: '/api/import/handbook?dryRun=true', payload: 'manufacturer\n', headers: { 'content-type': 'text/csv' } }) },
    // People and access.
    { op: 'GET /api/users', kind: 'list', actions: ['user.read'], build: async () => ({ method: 'GET', url: '/api/users' }) },
    {
      op: 'POST /api/users/invite',
      kind: 'place',
      expect: decides,
      build: async (c) => ({ method: 'POST', url: '/api/users/invite', payload: { email: `inv-${uniq()}@example.test`, displayName: 'Invitee', role: 'technician', locationId: locationAt(c.relation) } }),
    },
    { op: 'GET /api/access/grants', kind: 'list', actions: ['user.read'], build: async () => ({ method: 'GET', url: '/api/access/grants' }) },
    { op: 'POST /api/access/grants', kind: 'place', expect: decides, build: async (c) => ({ method: 'POST', url: '/api/access/grants', payload: { userId: grantee, role: 'technician', locationId: locationAt(c.relation), durationHours: 1 } }) },
    {
      op: 'POST /api/access/grants/{id}/revoke',
      // Grants are people's records, decided by the organisation's policy on who may hand out what: 403.
      refused: 403,
      kind: 'place',
      expect: (c) => c.state === 'active' && c.relation === 'own unit' && WRITTEN[c.role].includes('access.grant'),
      build: async (c) => ({ method: 'POST', url: `/api/access/grants/${await grantAt(c.relation)}/revoke`, payload: { reason: 'matrix' } }),
    },
    // Someone else's request: those without authority are told it does not exist.
    { op: 'GET /api/access/requests/{id}', kind: 'place', expect: decides, refused: 404, build: async (c) => ({ method: 'GET', url: `/api/access/requests/${await requestAt(c.relation)}` }) },
    {
      op: 'POST /api/access/requests/{id}/decision',
      refused: 403,
      kind: 'place',
      expect: decides,
      build: async (c) => ({ method: 'POST', url: `/api/access/requests/${await requestAt(c.relation)}/decision`, payload: { decision: 'deny', reason: 'matrix' } }),
    },
    // Only the requester withdraws a request; to anyone else it does not exist.
    { op: 'POST /api/access/requests/{id}/cancel', kind: 'place', expect: () => false, refused: 404, build: async (c) => ({ method: 'POST', url: `/api/access/requests/${await requestAt(c.relation)}/cancel` }) },
    { op: 'POST /api/users/{id}/sessions/revoke', kind: 'org', build: async () => ({ method: 'POST', url: `/api/users/${grantee}/sessions/revoke` }) },
    // The audit log is the organisation's.
    { op: 'GET /api/audit', kind: 'org', build: async () => ({ method: 'GET', url: '/api/audit' }) },
    { op: 'GET /api/audit/export', kind: 'org', build: async () => ({ method: 'GET', url: '/api/audit/export?format=jsonl' }) },
    { op: 'GET /api/audit/verify', kind: 'org', build: async () => ({ method: 'GET', url: '/api/audit/verify' }) },
    { op: 'POST /api/audit/verify', kind: 'org', build: async () => ({ method: 'POST', url: '/api/audit/verify', payload: { witness: { source: 'matrix', checkpoints: [] } } }) },
    { op: 'POST /api/audit/checkpoint', kind: 'org', build: async () => ({ method: 'POST', url: '/api/audit/checkpoint' }) },
    // A backup carries every table and the deployment's keys: the organisation's owners and admins only.
    { op: 'POST /api/admin/backup', kind: 'org', stepUp: true, build: async () => ({ method: 'POST', url: '/api/admin/backup', payload: { passphrase: 'a matrix passphrase' } }) },
    // Second factors and step-up: one's own, in the cell's own session (any signed-in person, live grant
    // or not: they guard the account, not the fleet). In this order: the password step-up works only
    // while the account has no factor; the factors the confirm row adds are removed by the delete row.
    { op: 'POST /api/auth/step-up', kind: 'self', build: async (c) => ({ method: 'POST', url: '/api/auth/step-up', payload: { method: 'password', password: passwordOf(c) } }) },
    { op: 'GET /api/auth/security', kind: 'self', build: async () => ({ method: 'GET', url: '/api/auth/security' }) },
    // A full session is not waiting for a second factor (400), and these accounts have no passkey (409).
    { op: 'POST /api/auth/second-factor', kind: 'self', passed: [400], build: async () => ({ method: 'POST', url: '/api/auth/second-factor', payload: { method: 'totp', code: '123456' } }) },
    { op: 'POST /api/auth/second-factor/passkey-options', kind: 'self', passed: [409], build: async () => ({ method: 'POST', url: '/api/auth/second-factor/passkey-options' }) },
    { op: 'POST /api/auth/step-up/passkey-options', kind: 'self', passed: [409], build: async () => ({ method: 'POST', url: '/api/auth/step-up/passkey-options' }) },
    { op: 'POST /api/auth/security/passkey-options', kind: 'self', stepUp: true, build: async () => ({ method: 'POST', url: '/api/auth/security/passkey-options' }) },
    // Registering needs a browser's signed answer: a made-up one is refused by its verification (401), past authorization.
    {
      op: 'POST /api/auth/security/passkey',
      kind: 'self',
      passed: [401],
      build: async () => ({ method: 'POST', url: '/api/auth/security/passkey', payload: { response: { id: 'bm90LWEta2V5', rawId: 'bm90LWEta2V5', type: 'public-key', response: {} } } }),
    },
    { op: 'POST /api/auth/security/totp', kind: 'self', stepUp: true, build: async () => ({ method: 'POST', url: '/api/auth/security/totp' }) },
    {
      op: 'POST /api/auth/security/totp/{id}/confirm',
      kind: 'self',
      build: async (c) => {
        const begin = await injectAs(env.app, asSession(own(c)), { method: 'POST', url: '/api/auth/security/totp' });
        assert.equal(begin.statusCode, 200, begin.body);
        const { factorId, secret } = begin.json<{ factorId: string; secret: string }>();
        const code = generateSync({ secret, epoch: Math.floor(svc().ctx.clock.now().getTime() / 1000) });
        return { method: 'POST', url: `/api/auth/security/totp/${factorId}/confirm`, payload: { code } };
      },
    },
    // The confirmed sessions of the step-up test belong to accounts without a factor: nothing to renew (409), past the step-up.
    { op: 'POST /api/auth/security/recovery-codes', kind: 'self', stepUp: true, passed: [409], build: async () => ({ method: 'POST', url: '/api/auth/security/recovery-codes' }) },
    {
      op: 'DELETE /api/auth/security/factors/{id}',
      kind: 'self',
      build: async (c) => {
        const status = await injectAs(env.app, asSession(own(c)), { method: 'GET', url: '/api/auth/security' });
        const factor = status.json<{ factors: { id: string }[] }>().factors[0];
        assert.ok(factor, `${c.role} ${c.state} has a factor to remove`);
        return { method: 'DELETE', url: `/api/auth/security/factors/${factor.id}` };
      },
    },
    // Which roles must use a second factor is no secret (each person's Security page says whether it applies to them).
    { op: 'GET /api/settings/second-factor-policy', kind: 'self', build: async () => ({ method: 'GET', url: '/api/settings/second-factor-policy' }) },
    // Setting it is an organisation-wide owner's; removing someone's factors, organisation-wide user.write.
    { op: 'PUT /api/settings/second-factor-policy', kind: 'org', stepUp: true, build: async () => ({ method: 'PUT', url: '/api/settings/second-factor-policy', payload: { requiredForRoles: [] } }) },
    { op: 'POST /api/users/{id}/second-factors/reset', kind: 'org', stepUp: true, build: async () => ({ method: 'POST', url: `/api/users/${grantee}/second-factors/reset` }) },
    // Single sign-on changes how everyone signs in: organisation-wide owners only (and a step-up, test/http/sso.test.ts).
    { op: 'GET /api/settings/sso', kind: 'org', expect: () => false, build: async () => ({ method: 'GET', url: '/api/settings/sso' }) },
    {
      op: 'PUT /api/settings/sso',
      kind: 'org',
      expect: () => false,
      build: async () => ({ method: 'PUT', url: '/api/settings/sso', payload: { enabled: false, providerName: 'Matrix IdP', issuerUrl: 'https://idp.example.test', clientId: 'matrix' } }),
    },
  ];
  /** Operations not in the matrix, and why. */
  const EXEMPT: Record<string, string> = {
    'POST /api/auth/sign-in': 'public: how a session starts',
    'POST /api/auth/one-time': 'public: how a one-time link is spent',
    'POST /api/auth/password': "acts on the caller's own account only (test/http/api.test.ts, hardening.test.ts)",
    'POST /api/auth/sign-out': "acts on the caller's own session only",
    'POST /api/auth/sign-out-everywhere': "acts on the caller's own sessions only (hardening.test.ts)",
    'GET /api/auth/sso': 'public: whether the sign-in page shows the single sign-on button (test/http/sso.test.ts)',
    'GET /api/auth/sso/start': 'public: sends the browser to the identity provider (test/http/sso.test.ts)',
    'GET /api/auth/sso/callback': 'public: the identity provider sends the browser back here; the sealed attempt, state, PKCE and the ID token are the authority (test/http/sso.test.ts)',
    'POST /api/integrations/{id}/webhook': 'public: Seam signs its deliveries; the signature is the authority (test/http/integrations.test.ts)',
  };
  let siteOfUnit = '';

  before(async () => {
    // On PostgreSQL where there is one: the matrix is about authorization, not storage, and its
    // 9,288 requests cost less server time there (docs/benchmarks.md: lock detail 1.2 ms on PostgreSQL, 3.5 ms on PGlite).
    env = await testApp({ demo: true, engine: process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite' });
    owner = await signIn(env.app, OWNER_EMAIL, OWNER_PASSWORD);
    const locks = (await svc().locks.list(SYSTEM, { limit: 500 })).items;
    const byName = (name: string) => locks.find((l) => l.name === name)!;
    const at = (lockName: string, kind: string) => byName(lockName).locationPath.find((p) => p.kind === kind)!.id;
    const rel: Record<Relation, [string, string]> = {
      'own unit': ['Unit A301 front door', 'unit'],
      'sibling unit': ['Unit A303 front door', 'unit'],
      'parent building': ['Building A main entrance', 'building'],
      'other site': ['Finance records room', 'unit'],
    };
    for (const r of RELATIONS) {
      const l = byName(rel[r][0]);
      place[r] = { lockId: l.id, locationId: l.locationId, modelId: l.modelId, doorParent: at(rel[r][0], rel[r][1]) };
    }
    unitId = place['own unit'].doorParent;
    siteOfUnit = at('Unit A301 front door', 'site');
    // Something to find (or not) in every list: an override entry with a telling title at each place.
    for (const r of RELATIONS) {
      const id = await overrideOn(place[r].lockId);
      entries.set(place[r].lockId, id);
      await svc().handbook.save(SYSTEM, id, { content: { ...(await svc().handbook.get(SYSTEM, id)).content, title: `Override at ${r}` }, reason: 'matrix', expectedRevision: 1 });
    }
    // A Z-Wave JS server nobody runs (connection refused at once): the integration exists, not running.
    integrationId = (await svc().integrations.create(SYSTEM, { driver: 'zwave', name: 'Matrix Z-Wave', config: { url: 'ws://127.0.0.1:1' } })).id;
    // An open alert on every place's lock, so the alert list has something to leak.
    for (const r of RELATIONS) alerts.set(r, (await svc().alerts.raise(SYSTEM, place[r].lockId, 'tamper', { detail: 'matrix', source: 'matrix' })).id);
    await svc().auth.createUser(SYSTEM, { email: 'grantee@example.test', displayName: 'Grantee', role: 'technician', locationId: place['other site'].doorParent, password: 'grantee password 1' });
    await svc().auth.createUser(SYSTEM, { email: 'requester@example.test', displayName: 'Requester', role: 'technician', locationId: place['other site'].doorParent, password: 'requester password 1' });
    for (const r of RELATIONS) cases.set(r, await openCaseOn(place[r].lockId, `Reset case at ${r}`));
    grantee = (await svc().auth.listUsers(SYSTEM)).find((u) => u.email === 'grantee@example.test')!.id;
    requester = await signIn(env.app, 'requester@example.test', 'requester password 1');
    for (const role of ROLES) {
      for (const state of STATES) {
        const email = `${role}-${state}@example.test`;
        const password = `${role} ${state} password`;
        await svc().auth.createUser(SYSTEM, { email, displayName: `${role} ${state}`, role, locationId: unitId, password });
        // Sign in while the grant is live, then end it: the same session must lose the access at once.
        sessions.set(key(role, state), await signIn(env.app, email, password));
        // A second person with the same grant whose session has not confirmed it's them.
        const second = `${role}-${state}-unconfirmed@example.test`;
        await svc().auth.createUser(SYSTEM, { email: second, displayName: `${role} ${state} unconfirmed`, role, locationId: unitId, password });
        // From an address of its own: the per-address sign-in throttle is not what this is about.
        unconfirmed.set(key(role, state), await signIn(env.app, second, password, `198.51.100.${unconfirmed.size + 1}`, { stepUp: false }));
        const now = svc().ctx.clock.now();
        if (state === 'expired') {
          await svc().ctx.db.execute(sql`update access_grants set granted_at = ${new Date(now.getTime() - 7200_000).toISOString()}, expires_at = ${new Date(now.getTime() - 1000).toISOString()} where user_id in (select id from users where email in (${email}, ${second}))`);
        }
        if (state === 'revoked') await svc().ctx.db.execute(sql`update access_grants set revoked_at = ${now.toISOString()}, revoked_by = 'system:test' where user_id in (select id from users where email in (${email}, ${second}))`);
      }
    }
  });
  after(() => env.close());

  it('has a row for every operation in the OpenAPI document', async () => {
    const doc = (await env.app.inject({ method: 'GET', url: '/api/openapi.json' })).json<{ paths: Record<string, Record<string, unknown>> }>();
    const ops = Object.entries(doc.paths).flatMap(([p, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${p}`));
    const covered = new Set([...ROWS.map((r) => r.op), ...Object.keys(EXEMPT)]);
    assert.deepEqual(ops.filter((o) => !covered.has(o)), [], 'operations without a matrix row');
    assert.deepEqual([...covered].filter((o) => !ops.includes(o)), [], 'matrix rows for operations that do not exist');
  });

  /** What the written policy says of `row` in cell `c` (with a fresh step-up). */
  const expectedOf = (row: Row, c: Cell): boolean =>
    row.expect
      ? row.expect(c)
      : row.kind === 'self'
        ? true
        : row.kind === 'org'
          ? false
          : row.kind === 'place'
            ? has(c, row.actions!) && c.relation === 'own unit'
            : has(c, row.actions!);
  /** The status a refusal of `row` takes in cell `c` (see Row.refused). */
  const refusalOf = (row: Row, c: Cell): number => {
    const sees = c.state === 'active' && c.relation === 'own unit';
    return typeof row.refused === 'function' ? row.refused(c) : (row.refused ?? (row.kind === 'place' && row.op.includes('{id}') && !sees ? 404 : 403));
  };
  const send = (session: Session, req: Request) =>
    injectAs(env.app, asSession(session), { method: req.method, url: req.url, ...(req.payload === undefined ? {} : { payload: req.payload as string }), ...(req.headers ? { headers: req.headers } : {}) });
  const codeOf = (body: string): string | undefined => {
    try {
      return (JSON.parse(body) as { error?: { code?: string } }).error?.code;
    } catch {
      return undefined;
    }
  };

  // The rows in six runs of consecutive rows, one test each (so no single test nears the runner's time
  // limit), in the same order as one loop: a row's cells for every role run before the next row's,
  // which the grant rows (what a list may hold) and the second-factor rows (per session) rely on.
  const RUN = Math.ceil(ROWS.length / 6);
  for (let from = 0; from < ROWS.length; from += RUN) {
  const part = ROWS.slice(from, from + RUN);
  it(`answers every cell as the written policy says, and lists hold nothing from outside the unit: ${part[0]!.op} to ${part.at(-1)!.op}`, async (t) => {
    const mismatches: string[] = [];
    let cells = 0;
    const outside = ['Override at sibling unit', 'Override at parent building', 'Override at other site', 'Unit A303', 'Finance records room', 'Northgate Offices', 'grantee@example.test', 'Reset case at sibling unit', 'Reset case at parent building', 'Reset case at other site'];
    for (const row of part) {
      for (const role of RUN_ROLES) {
        for (const relation of RELATIONS) {
          for (const state of STATES) {
            const c: Cell = { role, relation, state };
            const expected = expectedOf(row, c);
            const req = await row.build(c, expected);
            const res = await send(sessions.get(key(role, state))!, req);
            cells++;
            const ok = res.statusCode < 300 || (row.passed ?? []).includes(res.statusCode);
            const refusedAs = refusalOf(row, c);
            const got = expected ? ok : res.statusCode === refusedAs;
            if (!got) mismatches.push(`${row.op} | ${role} | ${relation} | ${state}: expected ${expected ? 'allowed' : `refused (${refusedAs})`}, got ${res.statusCode} ${res.body.slice(0, 160)}`);
            // No existence oracle: where a real id is refused as not found, a random id gets the same status and code.
            const realId = UUID.exec(req.url.split('?')[0]!)?.[0];
            if (!expected && refusedAs === 404 && realId && !row.oracleKnown) {
              const random = await injectAs(env.app, asSession(sessions.get(key(role, state))!), { method: req.method, url: req.url.replace(realId, '0badc0de-0000-4000-8000-000000000000'), ...(req.payload === undefined ? {} : { payload: req.payload as string }), ...(req.headers ? { headers: req.headers } : {}) });
              const code = (r: typeof res) => {
                try {
                  return r.json<{ error?: { code?: string } }>().error?.code ?? '';
                } catch {
                  return '(not JSON)';
                }
              };
              if (random.statusCode !== res.statusCode || code(random) !== code(res)) mismatches.push(`${row.op} | ${role} | ${relation} | ${state}: a real id answers ${res.statusCode} ${code(res)}, a random one ${random.statusCode} ${code(random)} (an existence oracle)`);
            }
            if (expected && res.statusCode === 200 && row.kind === 'list') {
              const body = res.rawPayload.toString('latin1');
              const leak = outside.find((s) => body.includes(s));
              if (leak && !/\.(xlsx|pdf)/.test(req.url)) mismatches.push(`${row.op} | ${role} | ${relation} | ${state}: lists "${leak}" from outside the unit`);
            }
          }
        }
      }
    }
    t.diagnostic(`matrix: ${part.length} operations × ${RUN_ROLES.length} roles × ${RELATIONS.length} relations × ${STATES.length} grant states = ${cells} cells, ${mismatches.length} mismatches`);
    // The first mismatch of each operation, with how many it had.
    const byOp = new Map<string, string[]>();
    for (const m of mismatches) byOp.set(m.split(' | ')[0]!, [...(byOp.get(m.split(' | ')[0]!) ?? []), m]);
    assert.equal(mismatches.length, 0, [...byOp.values()].map((ms) => `${ms[0]} (${ms.length} cells)`).join('\n'));
  });
  }

  it('step-up state: without a fresh step-up the act is refused (auth.step_up_required) exactly where it is allowed, refused as before elsewhere, and done once the same session confirms', async (t) => {
    const guarded = ROWS.filter((r) => r.stepUp);
    assert.ok(guarded.length >= 11, `${guarded.length} rows need a step-up`);
    const mismatches: string[] = [];
    let cells = 0;
    let required = 0;
    const each = async (judge: (row: Row, c: Cell, expected: boolean) => Promise<void>) => {
      for (const row of guarded) for (const role of ROLES) for (const relation of RELATIONS) for (const state of STATES) await judge(row, { role, relation, state }, expectedOf(row, { role, relation, state }));
    };
    // Not confirmed: where the policy allows the act, the answer is "confirm it's you"; where it does not,
    // the same refusal as with a step-up (authorization comes first, so nothing more is learnt).
    await each(async (row, c, expected) => {
      const res = await send(unconfirmed.get(key(c.role, c.state))!, await row.build(c, expected));
      cells++;
      const code = codeOf(res.body);
      const refusedAs = refusalOf(row, c);
      if (expected) {
        required++;
        if (res.statusCode !== 403 || code !== 'auth.step_up_required') mismatches.push(`unconfirmed ${row.op} | ${c.role} | ${c.relation} | ${c.state}: expected 403 auth.step_up_required, got ${res.statusCode} ${res.body.slice(0, 160)}`);
      } else if (res.statusCode !== refusedAs || code === 'auth.step_up_required') {
        mismatches.push(`unconfirmed ${row.op} | ${c.role} | ${c.relation} | ${c.state}: expected refused (${refusedAs}) without mention of a step-up, got ${res.statusCode} ${res.body.slice(0, 160)}`);
      }
    });
    // The same sessions confirm with their password; the cells refused for want of it are now allowed
    // (the others are refused as the matrix above shows, with or without a step-up).
    for (const role of ROLES) for (const state of STATES) await stepUp(env.app, unconfirmed.get(key(role, state))!, { method: 'password', password: passwordOf({ role, state }) });
    await each(async (row, c, expected) => {
      if (!expected) return;
      const res = await send(unconfirmed.get(key(c.role, c.state))!, await row.build(c, expected));
      cells++;
      if (!(res.statusCode < 300 || (row.passed ?? []).includes(res.statusCode))) mismatches.push(`confirmed ${row.op} | ${c.role} | ${c.relation} | ${c.state}: expected allowed, got ${res.statusCode} ${res.body.slice(0, 160)}`);
    });
    t.diagnostic(`step-up: ${guarded.length} guarded operations, ${cells} cells (${required} refused for want of a step-up, then allowed), ${mismatches.length} mismatches`);
    assert.ok(required > 0, 'some cell is allowed with a step-up');
    assert.equal(mismatches.length, 0, mismatches.slice(0, 20).join('\n'));
  });

  it('a refused change changes nothing', async () => {
    const tech = sessions.get(key('technician', 'active'))!;
    const before = (await svc().locks.get(SYSTEM, place['own unit'].lockId)).version;
    const res = await injectAs(env.app, asSession(tech), { method: 'PATCH', url: `/api/locks/${place['own unit'].lockId}`, payload: { notes: 'not allowed' } });
    assert.equal(res.statusCode, 403);
    assert.equal((await svc().locks.get(SYSTEM, place['own unit'].lockId)).version, before);
    const pins = (await svc().credentials.forLock(SYSTEM, place['sibling unit'].lockId)).credentials.length;
    const mgr = sessions.get(key('manager', 'active'))!;
    // Outside the manager's unit the lock does not exist for them: 404, as for a random id.
    assert.equal((await injectAs(env.app, asSession(mgr), { method: 'POST', url: `/api/locks/${place['sibling unit'].lockId}/pins`, payload: { holder: 'Sneaky' } })).statusCode, 404);
    assert.equal((await svc().credentials.forLock(SYSTEM, place['sibling unit'].lockId)).credentials.length, pins);
    assert.ok(owner);
  });
});
