import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../src/domain/errors.js';
import {
  EVENTS_BY_STATE,
  PREFLIGHT_CHECKS,
  RESET_EVENT_TYPES,
  RESET_REASONS,
  RESET_STATES,
  ResetEventSchema,
  applyEvent,
  lockedOut,
  openCase,
  recommend,
  requiredChecks,
  type ResetCase,
  type ResetEventInput,
  type ResetEventType,
  type ResetProfile,
  type ResetReason,
  type ResetState,
} from '../../src/domain/reset-case.js';

const T0 = new Date('2026-11-23T10:00:00Z');
const OPENER = 'alice';
const SECOND = 'bob';
const TECH = 'tess';

const PROFILE: ResetProfile = {
  resetBehaviour: 'local_only_keeps_cloud',
  cloudBound: true,
  mechanicalOverride: true,
  remoteReset: true,
  procedureSteps: 2,
  handbookEntryId: 'entry-1',
  handbookRevision: 3,
  batteryMinPercent: 20,
};

const ev = (e: ResetEventInput) => ResetEventSchema.parse(e);
const step = (c: ResetCase, e: ResetEventInput, actorId = TECH): ResetCase => applyEvent(c, ev(e), { actorId, at: T0 });
const open = (reason: ResetReason = 'credential_compromise', profile: Partial<ResetProfile> = {}): ResetCase =>
  openCase({ id: 'case-1', lockId: 'lock-1', reason, description: '', profile: { ...PROFILE, ...profile }, ctx: { actorId: OPENER, at: T0 } });

function errCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof AppError, `expected an AppError, got ${String(e)}`);
    return e.code;
  }
  return 'no error';
}

/** A case in each state, ready to move on (every guard satisfied). */
function fixtures(): Record<ResetState, ResetCase> {
  const triage = open();
  let c = step(triage, { type: 'decide', remedy: 'full_reset' }, OPENER);
  for (const check of PREFLIGHT_CHECKS) c = step(c, { type: 'preflight_check', check, passed: true }, OPENER);
  const preflight = step(c, { type: 'approve' }, SECOND);
  const snapshot = step(preflight, { type: 'complete_preflight' }, OPENER);
  const accountUnbind = step(snapshot, { type: 'snapshot_taken', items: [{ key: 'k1', label: 'Guest' }, { key: 'k2', label: 'Cleaner' }], schedules: 1 });
  c = step(accountUnbind, { type: 'account_unbound' });
  c = step(c, { type: 'procedure_step', step: 1 });
  const physical = step(c, { type: 'procedure_step', step: 2 });
  const replace = step(physical, { type: 'reset_blocked', reason: 'board_fault' });
  c = step(physical, { type: 'reset_performed', method: 'physical' });
  for (const check of requiredChecks(c)) c = step(c, { type: 'check_result', check, passed: true });
  const verification = c;
  c = step(verification, { type: 'complete_verification' });
  c = step(c, { type: 'credential_rebuilt', key: 'k1', how: 'restored' });
  const rebuild = step(c, { type: 'credential_rebuilt', key: 'k2', how: 'reissued' });
  const closeOut = step(rebuild, { type: 'complete_rebuild' });
  const closed = step(closeOut, { type: 'close' }, OPENER);
  const cancelled = step(triage, { type: 'cancel', note: 'opened by mistake' }, OPENER);
  return { triage, preflight, snapshot, account_unbind: accountUnbind, physical_reset: physical, replace_device: replace, verification, rebuild, close_out: closeOut, closed, cancelled };
}

/** One well-formed example of each event type. */
const SAMPLE: Record<ResetEventType, ResetEventInput> = {
  decide: { type: 'decide', remedy: 'full_reset' },
  preflight_check: { type: 'preflight_check', check: 'ownership_confirmed', passed: true },
  approve: { type: 'approve' },
  complete_preflight: { type: 'complete_preflight' },
  snapshot_taken: { type: 'snapshot_taken', items: [{ key: 'k1', label: 'Guest' }], schedules: 0 },
  account_unbound: { type: 'account_unbound' },
  hold_started: { type: 'hold_started', step: 1 },
  reenrolled: { type: 'reenrolled', from: 'sim-0001', to: 'sim-0001', method: 'setup_code', manufacturer: 'Demo', model: 'DB-100', serial: null },
  procedure_step: { type: 'procedure_step', step: 1 },
  reset_performed: { type: 'reset_performed', method: 'physical' },
  reset_blocked: { type: 'reset_blocked', reason: 'damaged' },
  device_replaced: { type: 'device_replaced' },
  check_result: { type: 'check_result', check: 'latch_and_door', passed: true },
  retry_reset: { type: 'retry_reset' },
  complete_verification: { type: 'complete_verification' },
  credential_rebuilt: { type: 'credential_rebuilt', key: 'k1', how: 'restored' },
  complete_rebuild: { type: 'complete_rebuild' },
  close: { type: 'close' },
  cancel: { type: 'cancel', note: 'not needed after all' },
  device_observed: { type: 'device_observed', observation: 'reset_detected', note: 'Device Reset Locally' },
};

/** For each allowed (state, event) on a ready case: the state it leads to, or the error it meets. */
const EXPECTED: Record<ResetState, Partial<Record<ResetEventType, ResetState | `error:${string}`>>> = {
  triage: { device_observed: 'triage', decide: 'preflight', cancel: 'cancelled' },
  preflight: { device_observed: 'preflight', preflight_check: 'preflight', approve: 'error:reset.invalid', complete_preflight: 'snapshot', cancel: 'cancelled' },
  snapshot: { device_observed: 'snapshot', snapshot_taken: 'account_unbind', cancel: 'cancelled' },
  account_unbind: { device_observed: 'account_unbind', account_unbound: 'physical_reset' },
  physical_reset: { device_observed: 'physical_reset', hold_started: 'error:reset.invalid', procedure_step: 'physical_reset', reset_performed: 'verification', reset_blocked: 'replace_device' },
  replace_device: { device_observed: 'replace_device', device_replaced: 'verification', cancel: 'cancelled' },
  verification: { device_observed: 'verification', reenrolled: 'verification', check_result: 'verification', retry_reset: 'physical_reset', reset_blocked: 'replace_device', complete_verification: 'rebuild' },
  rebuild: { device_observed: 'rebuild', credential_rebuilt: 'rebuild', complete_rebuild: 'close_out' },
  close_out: { device_observed: 'close_out', close: 'closed' },
  closed: {},
  cancelled: {},
};

describe('reset case state machine', () => {
  const fx = fixtures();

  it('the expectation table covers exactly the events each state takes', () => {
    for (const state of RESET_STATES) assert.deepEqual(Object.keys(EXPECTED[state]).sort(), [...EVENTS_BY_STATE[state]].sort(), state);
    assert.deepEqual([...RESET_EVENT_TYPES].sort(), Object.keys(SAMPLE).sort());
  });

  for (const state of RESET_STATES) {
    for (const type of RESET_EVENT_TYPES) {
      it(`${state} × ${type}`, () => {
        const before = fx[state];
        const copy = structuredClone(before);
        const expected = EXPECTED[state][type];
        const run = () => step(before, SAMPLE[type], type === 'approve' ? 'carol' : TECH);
        if (expected === undefined) {
          assert.equal(errCode(run), 'reset.wrong_state');
          try {
            run();
          } catch (e) {
            assert.match((e as Error).message, new RegExp(`cannot take "${type}"`));
          }
        } else if (expected.startsWith('error:')) {
          assert.equal(errCode(run), expected.slice(6));
        } else {
          assert.equal(run().state, expected);
        }
        assert.deepEqual(before, copy, 'the case given is never changed');
      });
    }
  }
});

describe('a reset the lock reports by itself', () => {
  const fx = fixtures();
  const seen = (c: ResetCase) => applyEvent(c, ev({ type: 'device_observed', observation: 'reset_detected', note: 'zwave: Device Reset Locally' }), { actorId: 'device:zwave/int-1/5', at: T0 });

  it('in verification: kept as an observation by the device, with when and the state; the setup-mode check stays the driver read\'s', () => {
    let c = step(fx.physical_reset, { type: 'reset_performed', method: 'physical' });
    c = step(c, { type: 'check_result', check: 'setup_mode', passed: false, note: 'not in setup mode' });
    const after = seen(c);
    assert.equal(after.state, 'verification');
    assert.deepEqual(after.observations, [{ kind: 'reset_detected', by: 'device:zwave/int-1/5', at: T0.toISOString(), state: 'verification', note: 'zwave: Device Reset Locally' }]);
    assert.deepEqual(after.verification, c.verification);
    assert.equal(seen(after).observations?.length, 2, 'each report is kept');
  });

  it('before the reset or during the rebuild: recorded with the state it came in, nothing else changes', () => {
    for (const state of ['triage', 'preflight', 'snapshot', 'physical_reset', 'rebuild', 'close_out'] as const) {
      const c = seen(fx[state]);
      assert.equal(c.state, state);
      assert.equal(c.observations?.at(-1)?.state, state);
      assert.deepEqual({ ...c, observations: fx[state].observations }, fx[state]);
    }
    assert.equal(errCode(() => seen(fx.closed)), 'reset.wrong_state');
  });
});

describe('triage', () => {
  it('recommends for every reason and says why', () => {
    const expected: Record<ResetReason, string> = {
      occupancy_change: 'rotate_codes',
      ownership_transfer: 'full_reset',
      unknown_admin_detected: 'full_reset',
      credential_compromise: 'full_reset',
      lost_admin_phone: 'remove_controller',
      management_app_replaced: 're_pair',
      pairing_loop: 'full_reset',
      cannot_authenticate_controller: 're_pair',
      firmware_inconsistent: 'full_reset',
      door_does_not_latch: 'fix_door_alignment',
    };
    for (const reason of RESET_REASONS) {
      const r = recommend(reason);
      assert.equal(r.remedy, expected[reason], reason);
      assert.ok(r.why.length > 40, reason);
    }
    assert.match(recommend('door_does_not_latch').why, /does not cure a mechanical fault/);
  });

  it('a lighter fix already tried escalates to a full reset; a door fault never does', () => {
    assert.equal(recommend('cannot_authenticate_controller', ['re_pair']).remedy, 'full_reset');
    assert.match(recommend('cannot_authenticate_controller', ['re_pair']).why, /already tried/);
    assert.equal(recommend('lost_admin_phone', ['re_pair']).remedy, 'remove_controller');
    assert.equal(recommend('door_does_not_latch', ['fix_door_alignment']).remedy, 'fix_door_alignment');
  });

  it('overriding the recommendation needs a reason; following a lighter fix closes the case', () => {
    const c = open('door_does_not_latch');
    assert.equal(errCode(() => step(c, { type: 'decide', remedy: 'full_reset' })), 'reset.override_reason');
    const overridden = step(c, { type: 'decide', remedy: 'full_reset', overrideReason: 'the board also fails' });
    assert.equal(overridden.state, 'preflight');
    assert.equal(overridden.decision?.overrideReason, 'the board also fails');
    const followed = step(c, { type: 'decide', remedy: 'fix_door_alignment' });
    assert.equal(followed.state, 'closed');
    assert.equal(followed.outcome, 'lighter_fix');
    assert.equal(followed.decision?.overrideReason, null);
  });
});

describe('preflight', () => {
  const inPreflight = (reason: ResetReason) => {
    let c = step(open(reason), { type: 'decide', remedy: 'full_reset', overrideReason: 'policy' }, OPENER);
    for (const check of PREFLIGHT_CHECKS) c = step(c, { type: 'preflight_check', check, passed: true }, OPENER);
    return c;
  };

  it('a compromise reset needs a second person, never the opener, and not the same person twice', () => {
    const c = inPreflight('credential_compromise');
    assert.equal(errCode(() => step(c, { type: 'complete_preflight' })), 'reset.incomplete');
    assert.equal(errCode(() => step(c, { type: 'approve' }, OPENER)), 'reset.self_approval');
    const approved = step(c, { type: 'approve' }, SECOND);
    assert.equal(errCode(() => step(approved, { type: 'approve' }, SECOND)), 'reset.self_approval');
    assert.equal(step(approved, { type: 'complete_preflight' }).state, 'snapshot');
  });

  it('an ordinary reset needs no approval and refuses one', () => {
    const c = inPreflight('pairing_loop');
    assert.equal(errCode(() => step(c, { type: 'approve' }, SECOND)), 'reset.invalid');
    assert.equal(step(c, { type: 'complete_preflight' }).state, 'snapshot');
  });

  it('a failed or missing check blocks completion and is named', () => {
    let c = inPreflight('pairing_loop');
    c = step(c, { type: 'preflight_check', check: 'maintenance_window', passed: false, note: 'fire alarm in the building' });
    try {
      step(c, { type: 'complete_preflight' });
      assert.fail('expected an error');
    } catch (e) {
      assert.equal((e as AppError).code, 'reset.incomplete');
      assert.match((e as Error).message, /maintenance window/);
    }
  });
});

describe('snapshot, account side, physical reset', () => {
  const atSnapshot = (profile: Partial<ResetProfile>) => {
    let c = step(open('pairing_loop', profile), { type: 'decide', remedy: 'full_reset' }, OPENER);
    for (const check of PREFLIGHT_CHECKS) c = step(c, { type: 'preflight_check', check, passed: true }, OPENER);
    return step(c, { type: 'complete_preflight' });
  };

  it('the account side is a step only where the cloud binding outlives a local reset', () => {
    const items = { type: 'snapshot_taken' as const, items: [], schedules: 0 };
    assert.equal(step(atSnapshot({ resetBehaviour: 'local_only_keeps_cloud', cloudBound: true }), items).state, 'account_unbind');
    assert.equal(step(atSnapshot({ resetBehaviour: 'split', cloudBound: true }), items).state, 'account_unbind');
    assert.equal(step(atSnapshot({ resetBehaviour: 'full_trust_anchor_erase', cloudBound: true }), items).state, 'physical_reset');
    assert.equal(step(atSnapshot({ resetBehaviour: 'local_only_keeps_cloud', cloudBound: false }), items).state, 'physical_reset');
  });

  it('a snapshot names each credential once', () => {
    assert.equal(errCode(() => step(atSnapshot({}), { type: 'snapshot_taken', items: [{ key: 'a', label: '' }, { key: 'a', label: '' }], schedules: 0 })), 'reset.invalid');
  });

  it('procedure steps are confirmed in order; a repeat is harmless; the reset needs them all', () => {
    const c = step(atSnapshot({ cloudBound: false, procedureSteps: 3 }), { type: 'snapshot_taken', items: [], schedules: 0 });
    assert.equal(errCode(() => step(c, { type: 'procedure_step', step: 2 })), 'reset.incomplete');
    assert.equal(errCode(() => step(c, { type: 'procedure_step', step: 4 })), 'reset.invalid');
    const one = step(c, { type: 'procedure_step', step: 1 });
    assert.deepEqual(step(one, { type: 'procedure_step', step: 1 }), one);
    assert.equal(errCode(() => step(one, { type: 'reset_performed', method: 'physical' })), 'reset.incomplete');
    const all = step(step(one, { type: 'procedure_step', step: 2 }), { type: 'procedure_step', step: 3 });
    assert.equal(step(all, { type: 'reset_performed', method: 'physical' }).state, 'verification');
  });

  it('a remote reset is offered only where the lock supports one, and skips the door procedure', () => {
    const no = step(atSnapshot({ cloudBound: false, remoteReset: false }), { type: 'snapshot_taken', items: [], schedules: 0 });
    assert.equal(errCode(() => step(no, { type: 'reset_performed', method: 'remote' })), 'reset.invalid');
    const yes = step(atSnapshot({ cloudBound: false, remoteReset: true }), { type: 'snapshot_taken', items: [], schedules: 0 });
    assert.equal(step(yes, { type: 'reset_performed', method: 'remote' }).reset?.method, 'remote');
  });

  it('a blocked reset leads to replacing the device, then verifying the new one', () => {
    const c = step(atSnapshot({ cloudBound: false, procedureSteps: 0 }), { type: 'snapshot_taken', items: [], schedules: 0 });
    const blocked = step(c, { type: 'reset_blocked', reason: 'battery_compartment_inaccessible', note: 'sealed by the previous owner' });
    assert.equal(blocked.state, 'replace_device');
    assert.equal(blocked.block?.reason, 'battery_compartment_inaccessible');
    const replaced = step(blocked, { type: 'device_replaced', note: 'new unit fitted' });
    assert.equal(replaced.state, 'verification');
    assert.equal(errCode(() => step(replaced, { type: 'retry_reset' })), 'reset.invalid');
  });
});

describe('verification and rebuild', () => {
  const fx = fixtures();
  const justReset = step(fx.physical_reset, { type: 'reset_performed', method: 'physical' });

  it('the checks follow the case: cloud, override and compromise add theirs', () => {
    assert.deepEqual(requiredChecks(justReset), [
      'setup_mode', 'prior_pins_gone', 'prior_controllers_refused', 'cloud_unbound', 'admin_enrollment_accepted',
      'latch_and_door', 'power_stable', 'override_unchanged', 'passwords_changed', 'automations_rebuilt',
    ]);
    const plain = open('pairing_loop', { cloudBound: false, mechanicalOverride: false });
    assert.deepEqual(requiredChecks(plain), ['setup_mode', 'prior_pins_gone', 'prior_controllers_refused', 'admin_enrollment_accepted', 'latch_and_door', 'power_stable']);
    const p = { ...justReset, reason: 'pairing_loop' as const, profile: { ...justReset.profile, mechanicalOverride: false } };
    assert.equal(errCode(() => step(p, { type: 'check_result', check: 'override_unchanged', passed: true })), 'reset.invalid');
  });

  it('driver checks wait until the lock is seen in setup mode', () => {
    assert.equal(errCode(() => step(justReset, { type: 'check_result', check: 'prior_pins_gone', passed: true })), 'reset.incomplete');
    const seen = step(justReset, { type: 'check_result', check: 'setup_mode', passed: true });
    assert.equal(step(seen, { type: 'check_result', check: 'prior_pins_gone', passed: true }).verification.prior_pins_gone?.passed, true);
  });

  it('a failed check blocks completion; retrying the reset starts the procedure and checks afresh', () => {
    let c = step(justReset, { type: 'check_result', check: 'setup_mode', passed: false, note: 'lock stayed in normal mode' });
    assert.equal(errCode(() => step(c, { type: 'complete_verification' })), 'reset.incomplete');
    c = step(c, { type: 'retry_reset', note: 'hold longer' });
    assert.equal(c.state, 'physical_reset');
    assert.deepEqual(c.procedureDone, []);
    assert.deepEqual(c.verification, {});
    const again = step(step(step(c, { type: 'procedure_step', step: 1 }), { type: 'procedure_step', step: 2 }), { type: 'reset_performed', method: 'physical' });
    assert.equal(again.attempts, 2);
  });

  it('the case shows who is still locked out until every snapshot entry is rebuilt', () => {
    const r = step(fx.verification, { type: 'complete_verification' });
    assert.deepEqual(lockedOut(r).map((i) => i.key), ['k1', 'k2']);
    assert.equal(errCode(() => step(r, { type: 'complete_rebuild' })), 'reset.incomplete');
    assert.equal(errCode(() => step(r, { type: 'credential_rebuilt', key: 'nobody', how: 'restored' })), 'reset.invalid');
    const one = step(r, { type: 'credential_rebuilt', key: 'k1', how: 'restored' });
    assert.deepEqual(lockedOut(one).map((i) => i.label), ['Cleaner']);
    assert.deepEqual(step(one, { type: 'credential_rebuilt', key: 'k1', how: 'reissued' }).rebuilt.k1?.how, 'restored', 'a repeat changes nothing');
  });

  it('a closed case records its outcome, who and when', () => {
    assert.equal(fx.closed.outcome, 'reset_verified');
    assert.equal(fx.closed.closedBy, OPENER);
    assert.equal(fx.cancelled.outcome, 'cancelled');
  });
});
