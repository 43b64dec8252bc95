import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAllowed, ROLES, type Action, type Actor, type Role } from '../../src/domain/identity.js';

const user = (role: Role): Actor => ({ kind: 'user', userId: 'u', email: 'u@x', role, via: 'session' });

const HB: Action[] = ['handbook.read', 'handbook.write', 'handbook.verify', 'handbook.reveal'];
// The policy as a matrix: each row is what a role may do; everything else is denied.
const MATRIX: Record<Role, Action[]> = {
  owner: ['location.read', 'location.write', 'model.read', 'model.write', 'lock.read', 'lock.write', 'lock.retire', 'user.read', 'user.write', 'token.manage_own', ...HB, 'keys.rotate'],
  admin: ['location.read', 'location.write', 'model.read', 'model.write', 'lock.read', 'lock.write', 'lock.retire', 'user.read', 'token.manage_own', ...HB, 'keys.rotate'],
  manager: ['location.read', 'location.write', 'model.read', 'lock.read', 'lock.write', 'lock.retire', 'token.manage_own', ...HB],
  technician: ['location.read', 'model.read', 'lock.read', 'token.manage_own', 'handbook.read', 'handbook.verify', 'handbook.reveal'],
  auditor: ['location.read', 'model.read', 'lock.read', 'user.read', 'token.manage_own', 'handbook.read'],
  occupant: ['token.manage_own'],
};
const ALL: Action[] = [...new Set(Object.values(MATRIX).flat())];

describe('authorization policy', () => {
  for (const role of ROLES) {
    it(`${role}: allowed exactly its row of the matrix`, () => {
      for (const action of ALL) assert.equal(isAllowed(user(role), action), MATRIX[role].includes(action), `${role} ${action}`);
    });
  }
  it('denies an unknown action and an unknown role', () => {
    assert.equal(isAllowed(user('owner'), 'reset.approve' as Action), false);
    assert.equal(isAllowed(user('superuser' as Role), 'lock.read'), false);
  });
});
