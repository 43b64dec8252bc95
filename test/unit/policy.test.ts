import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allowedActions, grantableRoles, isAllowed, organisationActions, ROLE_ACTIONS, ROLES, scopeOf, type Action, type Actor, type ActorGrant, type Role } from '../../src/domain/identity.js';

const SITE = '/org/site-a/';
const BUILDING = `${SITE}b1/`;
const UNIT = `${BUILDING}u1/`;
const SIBLING = `${BUILDING}u2/`;
const OTHER_SITE = '/org/site-b/';

const roleGrant = (role: Role, locationPath: string | null, expiresAt: Date | null = null): ActorGrant => ({ kind: 'role', id: `g-${role}`, role, locationId: locationPath, locationPath, expiresAt });
const user = (...grants: ActorGrant[]): Actor => ({ kind: 'user', userId: 'u', email: 'u@x', via: 'session', grants });

// The policy written out, independently of ROLE_ACTIONS: each row is what a role may do in its subtree.
const HB: Action[] = ['handbook.read', 'handbook.write', 'handbook.verify', 'handbook.reveal'];
const CRED: Action[] = ['credential.read', 'credential.write', 'credential.reveal', 'lock.operate'];
const RST: Action[] = ['reset.read', 'reset.manage', 'reset.perform', 'reset.approve'];
const WRITTEN: Record<Role, Action[]> = {
  owner: ['location.read', 'location.write', 'model.read', 'model.write', 'lock.read', 'lock.write', 'lock.retire', ...CRED, 'user.read', 'user.write', 'access.grant', 'token.manage_own', ...HB, 'keys.rotate', 'integration.manage', 'audit.read', ...RST],
  admin: ['location.read', 'location.write', 'model.read', 'model.write', 'lock.read', 'lock.write', 'lock.retire', ...CRED, 'user.read', 'user.write', 'access.grant', 'token.manage_own', ...HB, 'keys.rotate', 'integration.manage', 'audit.read', ...RST],
  manager: ['location.read', 'location.write', 'model.read', 'lock.read', 'lock.write', 'lock.retire', ...CRED, 'user.read', 'user.write', 'access.grant', 'token.manage_own', ...HB, ...RST],
  technician: ['location.read', 'model.read', 'lock.read', 'credential.read', 'lock.operate', 'token.manage_own', 'handbook.read', 'handbook.verify', 'reset.read', 'reset.perform'],
  auditor: ['location.read', 'model.read', 'lock.read', 'credential.read', 'user.read', 'token.manage_own', 'handbook.read', 'audit.read', 'reset.read'],
  occupant: ['location.read', 'lock.read', 'credential.read', 'token.manage_own'],
};
const ALL: Action[] = [...new Set(Object.values(WRITTEN).flat())];

describe('authorization policy', () => {
  it('organisation-wide actions are those of organisation-wide grants only (the UI hides pages with no place from site-scoped holders)', () => {
    const siteAdmin = user(roleGrant('admin', SITE));
    assert.ok(allowedActions(siteAdmin).includes('integration.manage'), 'held at the site');
    assert.deepEqual(organisationActions(siteAdmin), [], 'but nowhere organisation-wide');
    const orgAuditor = user(roleGrant('auditor', null), roleGrant('manager', SITE));
    const org = organisationActions(orgAuditor);
    assert.ok(org.includes('audit.read') && org.includes('lock.read'));
    assert.ok(!org.includes('lock.write'), 'the manager grant is only at the site');
    assert.deepEqual(organisationActions({ kind: 'system', name: 'local-cli' }).sort(), allowedActions({ kind: 'system', name: 'local-cli' }).sort());
  });

  it('the role table in code is the written one', () => {
    for (const role of ROLES) assert.deepEqual([...ROLE_ACTIONS[role]].sort(), [...WRITTEN[role]].sort(), role);
  });

  for (const role of ROLES) {
    it(`${role} on a unit: its row inside the unit, nothing in the sibling, the building above or another site`, () => {
      const actor = user(roleGrant(role, UNIT));
      for (const action of ALL) {
        const may = WRITTEN[role].includes(action);
        assert.equal(isAllowed(actor, action, { locationPath: UNIT }), may, `${role} ${action} own unit`);
        assert.equal(isAllowed(actor, action, { locationPath: `${UNIT}door-1/` }), may, `${role} ${action} door in unit`);
        assert.equal(isAllowed(actor, action, { locationPath: SIBLING }), false, `${role} ${action} sibling`);
        assert.equal(isAllowed(actor, action, { locationPath: BUILDING }), false, `${role} ${action} parent`);
        assert.equal(isAllowed(actor, action, { locationPath: OTHER_SITE }), false, `${role} ${action} other site`);
        assert.equal(isAllowed(actor, action), false, `${role} ${action} organisation`);
        assert.equal(isAllowed(actor, action, 'anywhere'), may, `${role} ${action} anywhere`);
      }
    });
  }

  it('an organisation-wide grant covers every place and the organisation itself', () => {
    const actor = user(roleGrant('admin', null));
    assert.equal(isAllowed(actor, 'keys.rotate'), true);
    assert.equal(isAllowed(actor, 'lock.write', { locationPath: OTHER_SITE }), true);
    assert.deepEqual(scopeOf(actor, 'lock.read'), null);
  });

  it('an expired grant counts for nothing once its time has passed', () => {
    const now = new Date('2026-06-01T12:00:00Z');
    const actor = user(roleGrant('manager', SITE, new Date('2026-06-01T11:59:59Z')));
    assert.equal(isAllowed(actor, 'lock.read', { locationPath: UNIT }, now), false);
    assert.equal(isAllowed(actor, 'lock.read', { locationPath: UNIT }, new Date('2026-06-01T11:00:00Z')), true);
    assert.deepEqual(scopeOf(actor, 'lock.read', now), []);
  });

  it('a reveal grant opens one entry only, and nothing else', () => {
    const actor = user({ kind: 'reveal', id: 'r', entryId: 'e1', expiresAt: null });
    assert.equal(isAllowed(actor, 'handbook.reveal', { entryId: 'e1', locationPath: UNIT }), true);
    assert.equal(isAllowed(actor, 'handbook.reveal', { entryId: 'e2', locationPath: UNIT }), false);
    assert.equal(isAllowed(actor, 'handbook.read', { entryId: 'e1', locationPath: UNIT }), false);
  });

  it('scopes merge: nested grants reduce to the outer subtree', () => {
    const actor = user(roleGrant('technician', UNIT), roleGrant('technician', SITE), roleGrant('auditor', OTHER_SITE));
    assert.deepEqual(scopeOf(actor, 'lock.operate'), [SITE]);
    assert.deepEqual(scopeOf(actor, 'lock.read')?.sort(), [OTHER_SITE, SITE].sort());
  });

  it('what each role may hand out, and where', () => {
    assert.deepEqual(grantableRoles(user(roleGrant('manager', SITE)), UNIT), ['manager', 'technician', 'occupant']);
    assert.deepEqual(grantableRoles(user(roleGrant('manager', SITE)), OTHER_SITE), []);
    assert.deepEqual(grantableRoles(user(roleGrant('manager', SITE)), null), []);
    assert.deepEqual(grantableRoles(user(roleGrant('admin', null)), null), ['admin', 'manager', 'technician', 'auditor', 'occupant']);
    assert.deepEqual(grantableRoles(user(roleGrant('technician', null)), UNIT), []);
  });

  it('denies an unknown action and an unknown role', () => {
    assert.equal(isAllowed(user(roleGrant('owner', null)), 'lock.explode' as Action), false);
    assert.equal(isAllowed(user(roleGrant('superuser' as Role, null)), 'lock.read'), false);
    assert.equal(isAllowed(user(), 'lock.read', 'anywhere'), false);
  });
});
