/**
 * A factory reset as a controlled change (seed 000, PRODUCT.md "Reset as a controlled change"): a
 * pure state machine. A case moves triage -> preflight -> snapshot -> account side -> physical reset
 * -> verification -> rebuild -> close-out, each step recorded with who and when. No I/O: services
 * read the lock through its driver, then feed the result in as an event; `applyEvent` either returns
 * the next case or throws an `AppError` and the case is unchanged.
 */
import { z } from 'zod';
import { AppError } from './errors.js';
import type { ResetBehaviour } from './lock-models.js';

/** Why a reset case is opened: the service problems seed 000 names. */
export const RESET_REASONS = [
  'occupancy_change',
  'ownership_transfer',
  'unknown_admin_detected',
  'credential_compromise',
  'lost_admin_phone',
  'management_app_replaced',
  'pairing_loop',
  'cannot_authenticate_controller',
  'firmware_inconsistent',
  'door_does_not_latch',
] as const;
export type ResetReason = (typeof RESET_REASONS)[number];

/** What can be done about it: the full reset, or something less destructive. */
export const RESET_REMEDIES = ['full_reset', 'rotate_codes', 'remove_controller', 're_pair', 'fix_door_alignment'] as const;
export type ResetRemedy = (typeof RESET_REMEDIES)[number];
export type LighterFix = Exclude<ResetRemedy, 'full_reset'>;

/** Reasons that treat the lock's administration as compromised: a second person approves, and more is verified. */
export const COMPROMISE_REASONS: readonly ResetReason[] = ['credential_compromise', 'unknown_admin_detected'];

export const RESET_STATES = [
  'triage',
  'preflight',
  'snapshot',
  'account_unbind',
  'physical_reset',
  'replace_device',
  'verification',
  'rebuild',
  'close_out',
  'closed',
  'cancelled',
] as const;
export type ResetState = (typeof RESET_STATES)[number];

export const PREFLIGHT_CHECKS = [
  'ownership_confirmed',
  'physical_access_arranged',
  'battery_adequate',
  'maintenance_window',
  'occupants_notified',
  'monitoring_notified',
] as const;
export type PreflightCheck = (typeof PREFLIGHT_CHECKS)[number];

/** Checks the driver can make (read back from the lock). */
export const AUTOMATIC_CHECKS = ['setup_mode', 'prior_pins_gone', 'prior_controllers_refused', 'cloud_unbound', 'admin_enrollment_accepted'] as const;
/** Checks a person makes at the door or on the accounts. */
export const MANUAL_CHECKS = ['latch_and_door', 'power_stable', 'override_unchanged', 'passwords_changed', 'automations_rebuilt'] as const;
export const VERIFICATION_CHECKS = [...AUTOMATIC_CHECKS, ...MANUAL_CHECKS] as const;
export type VerificationCheck = (typeof VERIFICATION_CHECKS)[number];

/** Why a physical reset cannot be done at all (then the device is replaced). */
export const RESET_BLOCK_REASONS = ['battery_compartment_inaccessible', 'board_fault', 'damaged', 'does_not_enter_setup_mode'] as const;
export type ResetBlockReason = (typeof RESET_BLOCK_REASONS)[number];

/** What the case knows about the lock, fixed when it is opened (from the lock, its model and handbook entry). */
export interface ResetProfile {
  resetBehaviour: ResetBehaviour;
  /** The lock is bound to a vendor cloud account. */
  cloudBound: boolean;
  mechanicalOverride: boolean;
  remoteReset: boolean;
  /** Steps of the handbook procedure for this lock (its override, else its model's entry); 0 without one. */
  procedureSteps: number;
  /** The handbook entry and revision the procedure comes from. */
  handbookEntryId: string | null;
  handbookRevision: number | null;
  batteryMinPercent: number;
}

/** A recommendation and the reason it is made. */
export interface Recommendation {
  remedy: ResetRemedy;
  why: string;
}

/** One recorded result (who, when, what). */
export interface StepMark {
  by: string;
  at: string;
  note: string;
}
export interface CheckMark extends StepMark {
  passed: boolean;
  /** Ids of photos or readings that back the result. */
  evidence: string[];
}

/** A snapshot entry: one credential that must survive, named by a stable key (never its code). */
export interface SnapshotItem {
  key: string;
  label: string;
}

/** Something a lock reported about itself while the case was open (a factory reset its driver saw). */
export interface DeviceObservation {
  kind: 'reset_detected';
  /** The device, as `device:<driver>/<device id>`. */
  by: string;
  at: string;
  /** The case's state when it was seen. */
  state: ResetState;
  note: string;
}

/** A device enrolled again after the reset: what it was, what it is now, and what it reported. */
export interface Reenrollment {
  /** The lock's device id before (null: it had none). */
  from: string | null;
  to: string;
  method: string;
  manufacturer: string | null;
  model: string | null;
  serial: string | null;
  by: string;
  at: string;
}

/** A reset case as the domain sees it. Plain data (stored as JSON); dates as ISO strings. */
export interface ResetCase {
  id: string;
  lockId: string;
  reason: ResetReason;
  description: string;
  openedBy: string;
  openedAt: string;
  state: ResetState;
  profile: ResetProfile;
  recommendation: Recommendation;
  /** What was chosen; `override` carries the reason when it differs from the recommendation. */
  decision: { remedy: ResetRemedy; overrideReason: string | null; by: string; at: string } | null;
  preflight: Partial<Record<PreflightCheck, CheckMark>>;
  approvals: StepMark[];
  snapshot: { items: SnapshotItem[]; schedules: number; by: string; at: string } | null;
  accountUnbind: (StepMark & { evidence?: string[] }) | null;
  /** Handbook steps ticked at the door (1-based). */
  procedureDone: number[];
  reset: { method: 'physical' | 'remote'; by: string; at: string; attempt: number } | null;
  attempts: number;
  block: { reason: ResetBlockReason; by: string; at: string; note: string } | null;
  replacement: StepMark | null;
  verification: Partial<Record<VerificationCheck, CheckMark>>;
  /** Snapshot keys restored on the lock, and how. */
  rebuilt: Record<string, { how: 'restored' | 'reissued'; by: string; at: string }>;
  outcome: 'reset_verified' | 'device_replaced' | 'lighter_fix' | 'cancelled' | null;
  /** What the lock reported by itself (absent on cases stored before this existed). */
  observations?: DeviceObservation[];
  /** When each timed hold of the procedure was started (step number -> ISO instant), kept on the server so a reload does not restart it. */
  holds?: Record<string, string>;
  /** The lock enrolled again after the reset, bound to this lock record (absent until then, and on older cases). */
  reenrollment?: Reenrollment | null;
  closedAt: string | null;
  closedBy: string | null;
}

// ---- triage --------------------------------------------------------------------------------

const WHY: Record<ResetReason, Recommendation> = {
  occupancy_change: {
    remedy: 'rotate_codes',
    why: 'A change of occupancy needs the outgoing codes revoked and the incoming ones issued; the admin and the paired controllers stay the same, so a factory reset would only wipe schedules everyone else relies on.',
  },
  ownership_transfer: {
    remedy: 'full_reset',
    why: 'The previous owner may keep an administrative connection (app, controller or cloud account); a factory reset is the final step before the new owner enrolls.',
  },
  unknown_admin_detected: {
    remedy: 'full_reset',
    why: 'An administrator nobody can account for means the trust anchors themselves are in doubt; only a factory reset returns the lock to a known baseline.',
  },
  credential_compromise: {
    remedy: 'full_reset',
    why: 'After a suspected compromise the lock must return to a verified configuration: reset, then change the account passwords and rebuild every automation that grants access.',
  },
  lost_admin_phone: {
    remedy: 'remove_controller',
    why: 'Removing the lost phone\'s pairing takes its access away without wiping everyone else\'s codes; reset only if the lock cannot be administered any other way.',
  },
  management_app_replaced: {
    remedy: 're_pair',
    why: 'A new management app needs pairing, not an empty lock: re-pair and remove the old app\'s controller, keeping codes and schedules.',
  },
  pairing_loop: {
    remedy: 'full_reset',
    why: 'Repeated pairing failures are what a factory reset is for: it returns the lock to setup mode so enrollment can start again from a known state.',
  },
  cannot_authenticate_controller: {
    remedy: 're_pair',
    why: 'Re-pairing the controller usually restores authentication without clearing credentials; reset only if re-pairing fails.',
  },
  firmware_inconsistent: {
    remedy: 'full_reset',
    why: 'A firmware update that left the configuration inconsistent is cured by returning to the defaults shipped by the manufacturer and enrolling again.',
  },
  door_does_not_latch: {
    remedy: 'fix_door_alignment',
    why: 'A reset does not cure a mechanical fault: it would reset the settings while the door or latch alignment stays wrong. Fix the fitment first.',
  },
};

/**
 * What lockwarden recommends for a reason. A lighter fix already tried without success escalates to
 * a full reset (a mechanical fault never does: no reset cures it).
 */
export function recommend(reason: ResetReason, alreadyTried: readonly LighterFix[] = []): Recommendation {
  const base = WHY[reason];
  if (base.remedy !== 'full_reset' && base.remedy !== 'fix_door_alignment' && alreadyTried.includes(base.remedy)) {
    return { remedy: 'full_reset', why: `${base.remedy.replace(/_/g, ' ')} was already tried without success; a factory reset returns the lock to a known baseline. (${base.why})` };
  }
  return base;
}

/** Whether this case needs the compromise handling: a second person's approval, passwords and automations. */
export function isCompromise(c: Pick<ResetCase, 'reason'>): boolean {
  return COMPROMISE_REASONS.includes(c.reason);
}

/** Approvals the policy asks for before a reset: one person other than the opener for a compromise. */
export function approvalsNeeded(c: Pick<ResetCase, 'reason'>): number {
  return isCompromise(c) ? 1 : 0;
}

/** Whether the cloud binding outlives a local reset and must be removed on the account first. */
export function accountUnbindRequired(p: ResetProfile): boolean {
  return p.cloudBound && p.resetBehaviour !== 'full_trust_anchor_erase';
}

/** The verification checks this case must pass. */
export function requiredChecks(c: Pick<ResetCase, 'reason' | 'profile'>): VerificationCheck[] {
  const out: VerificationCheck[] = ['setup_mode', 'prior_pins_gone', 'prior_controllers_refused'];
  if (c.profile.cloudBound) out.push('cloud_unbound');
  out.push('admin_enrollment_accepted', 'latch_and_door', 'power_stable');
  if (c.profile.mechanicalOverride) out.push('override_unchanged');
  if (isCompromise(c)) out.push('passwords_changed', 'automations_rebuilt');
  return out;
}

// ---- events --------------------------------------------------------------------------------

const note = z.string().trim().max(2000).default('');
const evidence = z.array(z.string().trim().min(1).max(300)).max(20).default([]);

/** Events a case takes; the service turns requests (and driver reads) into these. */
export const ResetEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('decide'), remedy: z.enum(RESET_REMEDIES), overrideReason: z.string().trim().max(2000).optional() }).strict(),
  z.object({ type: z.literal('preflight_check'), check: z.enum(PREFLIGHT_CHECKS), passed: z.boolean(), note, evidence }).strict(),
  z.object({ type: z.literal('approve'), note }).strict(),
  z.object({ type: z.literal('complete_preflight') }).strict(),
  z.object({ type: z.literal('snapshot_taken'), items: z.array(z.object({ key: z.string().min(1).max(200), label: z.string().max(200) }).strict()).max(10000), schedules: z.number().int().min(0) }).strict(),
  z.object({ type: z.literal('account_unbound'), note, evidence }).strict(),
  /** The technician started a timed hold of procedure step `step`; the tick waits until it ran its time. */
  z.object({ type: z.literal('hold_started'), step: z.number().int().min(1) }).strict(),
  /** The lock was enrolled again (a new device id bound to this lock record). */
  z.object({
    type: z.literal('reenrolled'),
    from: z.string().max(300).nullable(),
    to: z.string().min(1).max(300),
    method: z.string().min(1).max(40),
    manufacturer: z.string().max(200).nullable(),
    model: z.string().max(200).nullable(),
    serial: z.string().max(200).nullable(),
  }).strict(),
  z.object({ type: z.literal('procedure_step'), step: z.number().int().min(1) }).strict(),
  z.object({ type: z.literal('reset_performed'), method: z.enum(['physical', 'remote']) }).strict(),
  z.object({ type: z.literal('reset_blocked'), reason: z.enum(RESET_BLOCK_REASONS), note }).strict(),
  z.object({ type: z.literal('device_replaced'), note }).strict(),
  z.object({ type: z.literal('check_result'), check: z.enum(VERIFICATION_CHECKS), passed: z.boolean(), note, evidence }).strict(),
  z.object({ type: z.literal('retry_reset'), note }).strict(),
  z.object({ type: z.literal('complete_verification') }).strict(),
  z.object({ type: z.literal('credential_rebuilt'), key: z.string().min(1).max(200), how: z.enum(['restored', 'reissued']) }).strict(),
  z.object({ type: z.literal('complete_rebuild') }).strict(),
  z.object({ type: z.literal('close'), note }).strict(),
  z.object({ type: z.literal('cancel'), note: z.string().trim().min(1, 'say why the case is cancelled').max(2000) }).strict(),
  /** The lock's driver reported a factory reset (Z-Wave "Device Reset Locally", a Matter lock back in commissioning mode...). */
  z.object({ type: z.literal('device_observed'), observation: z.literal('reset_detected'), note }).strict(),
]);
export type ResetEvent = z.output<typeof ResetEventSchema>;
export type ResetEventInput = z.input<typeof ResetEventSchema>;
export type ResetEventType = ResetEvent['type'];
export const RESET_EVENT_TYPES: ResetEventType[] = ResetEventSchema.options.map<ResetEventType>((o) => o.shape.type.value);

/** Which events each state takes. Anything else is `reset.wrong_state`. */
export const EVENTS_BY_STATE: Record<ResetState, readonly ResetEventType[]> = {
  triage: ['decide', 'cancel', 'device_observed'],
  preflight: ['preflight_check', 'approve', 'complete_preflight', 'cancel', 'device_observed'],
  snapshot: ['snapshot_taken', 'cancel', 'device_observed'],
  account_unbind: ['account_unbound', 'device_observed'],
  physical_reset: ['hold_started', 'procedure_step', 'reset_performed', 'reset_blocked', 'device_observed'],
  // A device that cannot be reset and is not replaced after all ends the case with a reason: never a dead end.
  replace_device: ['device_replaced', 'cancel', 'device_observed'],
  verification: ['reenrolled', 'check_result', 'retry_reset', 'reset_blocked', 'complete_verification', 'device_observed'],
  rebuild: ['credential_rebuilt', 'complete_rebuild', 'device_observed'],
  close_out: ['close', 'device_observed'],
  closed: [],
  cancelled: [],
};

/** Events only a device sends (never offered to people as a next step). */
export const DEVICE_EVENT_TYPES: readonly ResetEventType[] = ['device_observed'];

/** Who is acting and when, for the record. */
export interface EventContext {
  actorId: string;
  at: Date;
}

/** A case just opened, in triage with its recommendation. */
export function openCase(args: {
  id: string;
  lockId: string;
  reason: ResetReason;
  description: string;
  alreadyTried?: LighterFix[];
  profile: ResetProfile;
  ctx: EventContext;
}): ResetCase {
  return {
    id: args.id,
    lockId: args.lockId,
    reason: args.reason,
    description: args.description,
    openedBy: args.ctx.actorId,
    openedAt: args.ctx.at.toISOString(),
    state: 'triage',
    profile: args.profile,
    recommendation: recommend(args.reason, args.alreadyTried),
    decision: null,
    preflight: {},
    approvals: [],
    snapshot: null,
    accountUnbind: null,
    procedureDone: [],
    reset: null,
    attempts: 0,
    block: null,
    replacement: null,
    verification: {},
    rebuilt: {},
    outcome: null,
    observations: [],
    holds: {},
    reenrollment: null,
    closedAt: null,
    closedBy: null,
  };
}

const wrongState = (c: ResetCase, type: string): AppError => {
  const allowed = EVENTS_BY_STATE[c.state];
  return new AppError(
    'reset.wrong_state',
    `a case in ${c.state.replace(/_/g, ' ')} cannot take "${type}"` + (allowed.length ? `; it takes: ${allowed.join(', ')}` : '; it is finished'),
  );
};

const incomplete = (message: string): AppError => new AppError('reset.incomplete', message);

/** What still stands between a case and its next state, in words; empty when it may move on. */
export function missing(c: ResetCase): string[] {
  switch (c.state) {
    case 'preflight': {
      const out = PREFLIGHT_CHECKS.filter((k) => !c.preflight[k]?.passed).map((k) => `preflight: ${k.replace(/_/g, ' ')}`);
      const need = approvalsNeeded(c) - c.approvals.length;
      if (need > 0) out.push(`approval by a second person (${need} more)`);
      return out;
    }
    case 'physical_reset': {
      const out: string[] = [];
      for (let i = 1; i <= c.profile.procedureSteps; i++) if (!c.procedureDone.includes(i)) out.push(`procedure step ${i}`);
      return out;
    }
    case 'verification':
      return requiredChecks(c).filter((k) => !c.verification[k]?.passed).map((k) => `verification: ${k.replace(/_/g, ' ')}`);
    case 'rebuild':
      return lockedOut(c).map((i) => `rebuild: ${i.label || i.key}`);
    default:
      return [];
  }
}

/** Who would still be locked out: snapshot entries not yet restored or reissued on the lock. */
export function lockedOut(c: ResetCase): SnapshotItem[] {
  return (c.snapshot?.items ?? []).filter((i) => !c.rebuilt[i.key]);
}

/**
 * Applies one event. Returns a new case; throws `reset.wrong_state` for an event the state does not
 * take, `reset.incomplete` when a step is confirmed before what it needs, and `reset.invalid` or
 * `reset.self_approval` for an event that makes no sense for this case. The input is never changed.
 */
export function applyEvent(current: ResetCase, event: ResetEvent, ctx: EventContext): ResetCase {
  if (!EVENTS_BY_STATE[current.state].includes(event.type)) throw wrongState(current, event.type);
  const c = structuredClone(current);
  const at = ctx.at.toISOString();
  const mark = (n: string): StepMark => ({ by: ctx.actorId, at, note: n });
  switch (event.type) {
    case 'decide': {
      const differs = event.remedy !== c.recommendation.remedy;
      if (differs && !event.overrideReason) {
        throw new AppError('reset.override_reason', `lockwarden recommends ${c.recommendation.remedy.replace(/_/g, ' ')}: say why you choose ${event.remedy.replace(/_/g, ' ')} instead`, [
          { path: 'overrideReason', message: 'required when overriding the recommendation' },
        ]);
      }
      c.decision = { remedy: event.remedy, overrideReason: differs ? event.overrideReason! : null, by: ctx.actorId, at };
      if (event.remedy === 'full_reset') c.state = 'preflight';
      else close(c, 'lighter_fix', ctx);
      return c;
    }
    case 'preflight_check':
      c.preflight[event.check] = { ...mark(event.note), passed: event.passed, evidence: event.evidence };
      return c;
    case 'approve': {
      if (approvalsNeeded(c) === 0) throw new AppError('reset.invalid', 'this case needs no approval');
      if (ctx.actorId === c.openedBy) throw new AppError('reset.self_approval', 'the person who opened a case cannot approve it: a second person must');
      if (c.approvals.some((a) => a.by === ctx.actorId)) throw new AppError('reset.self_approval', 'you have already approved this case; another person must');
      if (c.approvals.length >= approvalsNeeded(c)) throw new AppError('reset.invalid', 'this case already has the approvals it needs');
      c.approvals.push(mark(event.note));
      return c;
    }
    case 'complete_preflight': {
      const left = missing(c);
      if (left.length) throw incomplete(`preflight is not complete: ${left.join('; ')}`);
      c.state = 'snapshot';
      return c;
    }
    case 'snapshot_taken': {
      const keys = new Set(event.items.map((i) => i.key));
      if (keys.size !== event.items.length) throw new AppError('reset.invalid', 'a snapshot names each credential once');
      c.snapshot = { items: event.items, schedules: event.schedules, by: ctx.actorId, at };
      c.state = accountUnbindRequired(c.profile) ? 'account_unbind' : 'physical_reset';
      return c;
    }
    case 'account_unbound':
      c.accountUnbind = { ...mark(event.note), evidence: event.evidence };
      c.state = 'physical_reset';
      return c;
    case 'hold_started': {
      if (event.step > c.profile.procedureSteps) throw new AppError('reset.invalid', `the procedure has ${c.profile.procedureSteps} steps; there is no step ${event.step}`);
      const next = nextProcedureStep(c);
      if (next === null) throw new AppError('reset.invalid', 'every step of the procedure is done: nothing is left to hold');
      if (event.step !== next) throw incomplete(`step ${next} is the one to do now, not step ${event.step}`);
      // Starting again restarts the hold: the lock counts from when the button went down.
      c.holds = { ...(c.holds ?? {}), [String(event.step)]: at };
      return c;
    }
    case 'reenrolled': {
      if (c.reenrollment) throw new AppError('reset.already_reenrolled', `this case already enrolled the lock again (as ${c.reenrollment.to}); repeat the reset to enroll it once more`);
      if (!c.verification.setup_mode?.passed && !c.replacement) throw incomplete('the lock must first be seen in setup mode after the reset: a lock only accepts a new enrollment from there');
      c.reenrollment = { from: event.from, to: event.to, method: event.method, manufacturer: event.manufacturer, model: event.model, serial: event.serial, by: ctx.actorId, at };
      if (!c.verification.setup_mode?.passed) {
        // A replacement device is factory-fresh: its enrollment is what shows it was in setup mode.
        c.verification.setup_mode = { ...mark('the replacement device accepted a new enrollment, which a lock only does from setup mode'), passed: true, evidence: [] };
      }
      return c;
    }
    case 'procedure_step': {
      if (event.step > c.profile.procedureSteps) throw new AppError('reset.invalid', `the procedure has ${c.profile.procedureSteps} steps; there is no step ${event.step}`);
      const next = nextProcedureStep(c);
      if (c.procedureDone.includes(event.step)) return c;
      if (event.step !== next) throw incomplete(`confirm procedure step ${next} before step ${event.step}`);
      c.procedureDone.push(event.step);
      return c;
    }
    case 'reset_performed': {
      if (event.method === 'remote' && !c.profile.remoteReset) throw new AppError('reset.invalid', 'this lock cannot be reset remotely: follow the procedure at the door');
      if (event.method === 'physical') {
        const left = missing(c);
        if (left.length) throw incomplete(`confirm the procedure first: ${left.join('; ')}`);
      }
      c.attempts += 1;
      c.reset = { method: event.method, by: ctx.actorId, at, attempt: c.attempts };
      c.verification = {};
      c.state = 'verification';
      return c;
    }
    case 'reset_blocked':
      c.block = { reason: event.reason, by: ctx.actorId, at, note: event.note };
      c.state = 'replace_device';
      return c;
    case 'device_replaced':
      c.replacement = mark(event.note);
      c.reenrollment = null;
      c.reset = { method: 'physical', by: ctx.actorId, at, attempt: c.attempts };
      c.verification = {};
      c.state = 'verification';
      return c;
    case 'check_result': {
      if (!requiredChecks(c).includes(event.check)) throw new AppError('reset.invalid', `${event.check.replace(/_/g, ' ')} is not a check this case needs`);
      // A new admin enrolls only on a lock seen in setup mode: enrollment ends setup mode.
      if (event.check !== 'setup_mode' && AUTOMATIC_CHECKS.includes(event.check as (typeof AUTOMATIC_CHECKS)[number]) && !c.verification.setup_mode?.passed) {
        throw incomplete('the lock must first be seen in setup mode after the reset');
      }
      c.verification[event.check] = { ...mark(event.note), passed: event.passed, evidence: event.evidence };
      return c;
    }
    case 'retry_reset':
      if (c.replacement) throw new AppError('reset.invalid', 'the device was replaced; verify the new one');
      c.procedureDone = [];
      c.holds = {};
      c.verification = {};
      // Another reset takes the enrollment away again; the lock record keeps the device id it was bound to last.
      c.reenrollment = null;
      c.state = 'physical_reset';
      return c;
    case 'complete_verification': {
      const left = missing(c);
      if (left.length) throw incomplete(`verification is not complete: ${left.join('; ')}`);
      c.state = 'rebuild';
      return c;
    }
    case 'credential_rebuilt': {
      if (!c.snapshot?.items.some((i) => i.key === event.key)) throw new AppError('reset.invalid', `${event.key} is not in this case's snapshot`);
      if (!c.rebuilt[event.key]) c.rebuilt[event.key] = { how: event.how, by: ctx.actorId, at };
      return c;
    }
    case 'complete_rebuild': {
      const left = missing(c);
      if (left.length) throw incomplete(`still locked out: ${left.join('; ')}`);
      c.state = 'close_out';
      return c;
    }
    case 'close':
      close(c, c.replacement ? 'device_replaced' : 'reset_verified', ctx);
      return c;
    case 'device_observed':
      // Kept on the case whatever its state, for the verification step and the record. It is not
      // taken as the setup-mode check: a lock can report a reset and still not return to setup
      // mode; the driver's read decides that.
      c.observations = [...(c.observations ?? []), { kind: event.observation, by: ctx.actorId, at, state: c.state, note: event.note }];
      return c;
    case 'cancel':
      c.state = 'cancelled';
      c.outcome = 'cancelled';
      c.closedAt = at;
      c.closedBy = ctx.actorId;
      return c;
  }
}

function close(c: ResetCase, outcome: NonNullable<ResetCase['outcome']>, ctx: EventContext): void {
  c.state = 'closed';
  c.outcome = outcome;
  c.closedAt = ctx.at.toISOString();
  c.closedBy = ctx.actorId;
}

/** The next procedure step to confirm (1-based), or null when all are done. */
export function nextProcedureStep(c: ResetCase): number | null {
  for (let i = 1; i <= c.profile.procedureSteps; i++) if (!c.procedureDone.includes(i)) return i;
  return null;
}

/** Whether a case is finished (closed or cancelled). */
export function isFinished(c: Pick<ResetCase, 'state'>): boolean {
  return c.state === 'closed' || c.state === 'cancelled';
}

/** Opening a case: the lock, the reason, and what was already tried. */
export const ResetCaseOpenSchema = z
  .object({
    lockId: z.string().uuid('lockId must be an id'),
    reason: z.enum(RESET_REASONS),
    description: z.string().trim().max(2000).default(''),
    alreadyTried: z.array(z.enum(['rotate_codes', 'remove_controller', 're_pair', 'fix_door_alignment'])).max(4).default([]),
  })
  .strict();
