/**
 * Response shapes for the OpenAPI document and the serializer. Request shapes are the domain's own
 * schemas, so HTTP, CLI and spreadsheets validate the same way.
 */
import { ATTACHMENT_TYPES } from '../domain/attachments.js';
import { z } from 'zod';
import { CREDENTIAL_STORAGE, LOCK_FAMILIES, RESET_BEHAVIOURS } from '../domain/lock-models.js';
import { LOCATION_KINDS, READINGS } from '../domain/locations.js';
import { DRIVER_NAMES, SERVICE_STATES } from '../domain/locks.js';
import { ROLES } from '../domain/identity.js';
import { HandbookContentSchema, SECRET_KINDS } from '../domain/handbook.js';
import { SECOND_FACTOR_KINDS, SESSION_STAGES, TOKEN_SCOPES } from '../domain/second-factor.js';

const when = z.date();

export const ErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    fields: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    requestId: z.string().optional(),
  }),
});

export const IdParams = z.object({ id: z.string().uuid('not a valid id') });

export const UserOut = z.object({ id: z.string(), email: z.string(), displayName: z.string(), roles: z.array(z.object({ role: z.enum(ROLES), locationId: z.string().nullable(), locationName: z.string().nullable() })), hasPassword: z.boolean(), createdAt: when });

export const SessionOut = z.object({
  user: UserOut,
  csrfToken: z.string(),
  allowedActions: z.array(z.string()),
  /** Actions held organisation-wide (pages with no place, such as integrations and the audit log). */
  organisationActions: z.array(z.string()),
  mustSetPassword: z.boolean().optional(),
  /** `full`, or limited to giving the second factor / enrolling one; with the methods the account can use. */
  stage: z.enum(SESSION_STAGES).optional(),
  secondFactorMethods: z.array(z.enum(['totp', 'webauthn', 'recovery'])).optional(),
});

export const SecondFactorOut = z.object({ id: z.string(), kind: z.enum(SECOND_FACTOR_KINDS), label: z.string(), createdAt: when, lastUsedAt: when.nullable() });

const LocationBase = {
  id: z.string(),
  parentId: z.string().nullable(),
  kind: z.enum(LOCATION_KINDS),
  name: z.string(),
  reading: z.enum(READINGS),
  attributes: z.record(z.string(), z.string()),
  path: z.string(),
  isDemo: z.boolean(),
  documentOwnerId: z.string().nullable(),
  createdAt: when,
  updatedAt: when,
};
export const LocationOut = z.object(LocationBase);

export interface LocationNodeOut extends z.infer<typeof LocationOut> {
  label: string;
  lockCount: number;
  children: LocationNodeOut[];
}
export const LocationNodeOut: z.ZodType<LocationNodeOut> = z.lazy(() =>
  z.object({ ...LocationBase, label: z.string(), lockCount: z.number(), children: z.array(LocationNodeOut) }),
);

export const LockModelOut = z.object({
  id: z.string(),
  manufacturer: z.string(),
  modelNumber: z.string(),
  name: z.string(),
  family: z.enum(LOCK_FAMILIES),
  capabilities: z.object({
    pinSlots: z.number(),
    pinLengthMin: z.number(),
    pinLengthMax: z.number(),
    schedules: z.boolean(),
    digitalKeys: z.boolean(),
    fingerprints: z.boolean(),
    remoteLockUnlock: z.boolean(),
    remoteReset: z.boolean(),
  }),
  resetBehaviour: z.enum(RESET_BEHAVIOURS),
  gating: z.object({
    button: z.string(),
    buttonSequence: z.string().optional(),
    holdSeconds: z.number(),
    batteryMinPercent: z.number(),
    needsLockOffDoor: z.boolean(),
  }),
  credentialStorage: z.enum(CREDENTIAL_STORAGE),
  mechanicalOverride: z.boolean(),
  isDemo: z.boolean(),
  createdAt: when,
  updatedAt: when,
});

export const LockOut = z.object({
  id: z.string(),
  name: z.string(),
  modelId: z.string(),
  manufacturer: z.string(),
  modelNumber: z.string(),
  family: z.enum(LOCK_FAMILIES),
  locationId: z.string(),
  locationPath: z.array(z.object({ id: z.string(), name: z.string(), kind: z.string() })),
  siteId: z.string().nullable(),
  serial: z.string(),
  firmware: z.string(),
  installedOn: z.string().nullable(),
  driver: z.enum(DRIVER_NAMES),
  externalId: z.string().nullable(),
  credentialStorage: z.enum(CREDENTIAL_STORAGE),
  mechanicalOverride: z.boolean(),
  batteryPercent: z.number().nullable(),
  serviceState: z.enum(SERVICE_STATES),
  retiredAt: when.nullable(),
  retiredReason: z.string().nullable(),
  notes: z.string(),
  isDemo: z.boolean(),
  version: z.number(),
  createdAt: when,
  updatedAt: when,
});

export const ApiTokenOut = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  createdAt: when,
  lastUsedAt: when.nullable(),
  expiresAt: when.nullable(),
  revokedAt: when.nullable(),
  scope: z.enum(TOKEN_SCOPES),
});

export const items = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });

const ScheduleOut = z.union([
  z.object({ kind: z.literal('always') }),
  z.object({ kind: z.literal('window'), from: z.string(), until: z.string() }),
  z.object({ kind: z.literal('recurring'), days: z.array(z.string()), start: z.string(), end: z.string() }),
]);

export const CredentialOut = z.object({
  id: z.string(),
  lockId: z.string(),
  kind: z.enum(['pin', 'controller']),
  slot: z.number().nullable(),
  controllerId: z.string().nullable(),
  holder: z.string(),
  schedule: ScheduleOut,
  status: z.enum(['pending', 'confirmed', 'failed', 'removing', 'removed']),
  origin: z.enum(['lockwarden', 'adopted']),
  attempts: z.number(),
  lastError: z.string().nullable(),
  version: z.number(),
  createdAt: when,
  updatedAt: when,
  confirmedAt: when.nullable(),
});

const CapabilitiesOut = z.object({
  pin: z.object({
    slots: z.number(),
    minLength: z.number(),
    maxLength: z.number(),
    alphabet: z.string(),
    lengths: z.array(z.number()).optional(),
    forbiddenDigits: z.array(z.string()).optional(),
    forbiddenPrefixes: z.array(z.string()).optional(),
    rules: z.array(z.string()).optional(),
    nameMaxLength: z.number().optional(),
    firstDeviceSlot: z.number().optional(),
  }),
  schedules: z.object({ window: z.boolean(), recurring: z.boolean() }),
  digitalKeys: z.boolean(),
  controllers: z.boolean(),
  biometrics: z.boolean(),
  remoteLockUnlock: z.boolean(),
  remoteLock: z.boolean().optional(),
  remoteUnlock: z.boolean().optional(),
  offlineCodes: z.enum(['supported', 'only']).optional(),
  remoteFactoryReset: z.boolean(),
  cloudBinding: z.boolean(),
  events: z.boolean(),
});

/** A controller paired with a lock (a hub, phone or Matter fabric) and lockwarden's removal of it, if any. */
export const ControllerOut = z.object({
  id: z.string(),
  label: z.string(),
  kind: z.string(),
  admin: z.boolean(),
  /** lockwarden's own pairing. */
  self: z.boolean().optional(),
  vendor: z.string().optional(),
  fingerprint: z.string().optional(),
  removal: CredentialOut.nullable(),
});

export const LockControllersOut = z.object({ lockId: z.string(), readAt: when, controllers: z.array(ControllerOut) });

export const LockCredentialsOut = z.object({
  lockId: z.string(),
  driver: z.string(),
  capabilities: CapabilitiesOut,
  observation: z
    .object({
      readAt: when.nullable(),
      inDoubt: z.boolean(),
      lastError: z.string().nullable(),
      status: z
        .object({ online: z.boolean(), batteryPercent: z.number().nullable(), bolt: z.string(), firmware: z.string().nullable(), setupMode: z.boolean(), cloudBound: z.boolean().nullable() })
        .nullable(),
    })
    .nullable(),
  slots: z.array(
    z.object({
      slot: z.number(),
      state: z.enum(['in_sync', 'missing', 'code_mismatch', 'schedule_mismatch', 'pending_removal', 'unmanaged']),
      credential: CredentialOut.nullable(),
      observed: z.object({ name: z.string(), schedule: ScheduleOut, enabled: z.boolean(), offline: z.boolean().optional() }).nullable(),
    }),
  ),
  credentials: z.array(CredentialOut),
  controllers: z.array(ControllerOut),
  digitalKeys: z.array(z.object({ id: z.string(), holder: z.string() })),
  biometrics: z.array(z.object({ id: z.string(), holder: z.string(), kind: z.string() })),
  drift: z.number(),
});

export const BulkOut = z.object({
  id: z.string(),
  kind: z.string(),
  description: z.string(),
  createdBy: z.string(),
  createdAt: when,
  total: z.number(),
  done: z.number(),
  failed: z.number(),
  pending: z.number(),
  finished: z.boolean(),
  failures: z.array(z.object({ lockId: z.string(), error: z.string() })),
});

const HandbookStatus = z.enum(['current', 'stale', 'never_verified']);

export const HandbookSummaryOut = z.object({
  id: z.string(),
  modelId: z.string(),
  manufacturer: z.string(),
  modelNumber: z.string(),
  family: z.string(),
  lockId: z.string().nullable(),
  lockName: z.string().nullable(),
  siteId: z.string().nullable(),
  title: z.string(),
  generic: z.boolean(),
  revision: z.number(),
  createdAt: when,
  updatedAt: when,
  verificationWindowDays: z.number(),
  verifiedAt: when.nullable(),
  verifiedBy: z.string().nullable(),
  verifiedRevision: z.number().nullable(),
  status: HandbookStatus,
  dueAt: when.nullable(),
});

export const RevisionMetaOut = z.object({ revision: z.number(), authorId: z.string(), authorLabel: z.string(), reason: z.string(), createdAt: when });

/** A secret as every response shows it: never its value. */
export const MaskedSecretOut = z.object({ id: z.string(), kind: z.enum(SECRET_KINDS), label: z.string(), masked: z.string(), createdBy: z.string(), createdAt: when, updatedAt: when });

export const HandbookEntryOut = HandbookSummaryOut.extend({ content: HandbookContentSchema, lastRevision: RevisionMetaOut, secrets: z.array(MaskedSecretOut) });

const TextChangeOut = z.object({ value: z.string(), added: z.boolean().optional(), removed: z.boolean().optional() });
const FieldDiffOut = z.object({ field: z.string(), before: z.unknown(), after: z.unknown(), text: z.array(TextChangeOut).optional() });
const StepOut = z.object({ kind: z.string(), text: z.string(), seconds: z.number().optional(), sequence: z.string().optional() });
export const ContentDiffOut = z.object({
  from: z.number(),
  to: z.number(),
  same: z.boolean(),
  fields: z.array(FieldDiffOut),
  steps: z.array(
    z.object({
      op: z.enum(['same', 'added', 'removed', 'changed']),
      before: z.number().optional(),
      after: z.number().optional(),
      step: StepOut.optional(),
      from: StepOut.optional(),
      to: StepOut.optional(),
      fields: z.array(FieldDiffOut).optional(),
    }),
  ),
});

interface TocLocationOut {
  id: string;
  name: string;
  kind: string;
  locks: { lockId: string; name: string; modelId: string; entryId: string | null; source: 'lock' | 'model' | null; status: z.infer<typeof HandbookStatus> | null }[];
  children: TocLocationOut[];
}
const TocLocationOut: z.ZodType<TocLocationOut> = z.lazy(() =>
  z.object({
    id: z.string(),
    name: z.string(),
    kind: z.string(),
    locks: z.array(z.object({ lockId: z.string(), name: z.string(), modelId: z.string(), entryId: z.string().nullable(), source: z.enum(['lock', 'model']).nullable(), status: HandbookStatus.nullable() })),
    children: z.array(TocLocationOut),
  }),
);
export const HandbookTocOut = z.object({
  manufacturers: z.array(
    z.object({
      name: z.string(),
      models: z.array(
        z.object({
          modelId: z.string(),
          modelNumber: z.string(),
          family: z.string(),
          entries: z.array(z.object({ id: z.string(), title: z.string(), lockId: z.string().nullable(), lockName: z.string().nullable(), status: HandbookStatus, revision: z.number(), generic: z.boolean() })),
        }),
      ),
    }),
  ),
  locations: z.array(TocLocationOut),
});

export const SecretRevealOut = z.object({
  id: z.string(),
  secretId: z.string(),
  entryId: z.string(),
  secretKind: z.string(),
  actorId: z.string(),
  actorLabel: z.string(),
  reason: z.string(),
  revealedAt: when,
});

export const AttachmentOut = z.object({
  id: z.string(),
  entryId: z.string(),
  step: z.number().nullable(),
  caption: z.string(),
  filename: z.string(),
  mediaType: z.enum(ATTACHMENT_TYPES),
  size: z.number(),
  sha256: z.string(),
  width: z.number().nullable(),
  height: z.number().nullable(),
  hasThumbnail: z.boolean(),
  createdBy: z.string(),
  createdAt: when,
});

export const AttachmentEventOut = z.object({
  id: z.string(),
  attachmentId: z.string(),
  action: z.enum(['added', 'removed']),
  filename: z.string(),
  step: z.number().nullable(),
  actorLabel: z.string(),
  at: when,
});

export const AccessGrantOut = z.object({
  id: z.string(),
  userId: z.string(),
  userEmail: z.string(),
  userName: z.string(),
  kind: z.enum(['role', 'reveal']),
  role: z.enum(ROLES).nullable(),
  locationId: z.string().nullable(),
  locationName: z.string().nullable(),
  entryId: z.string().nullable(),
  entryTitle: z.string().nullable(),
  requestId: z.string().nullable(),
  grantedBy: z.string(),
  grantedAt: when,
  expiresAt: when.nullable(),
  revokedAt: when.nullable(),
  revokedBy: z.string().nullable(),
  revokeReason: z.string().nullable(),
  state: z.enum(['active', 'expired', 'revoked']),
});

export const AccessRequestOut = z.object({
  id: z.string(),
  requesterId: z.string(),
  requesterEmail: z.string(),
  requesterName: z.string(),
  kind: z.enum(['role', 'reveal']),
  role: z.enum(ROLES).nullable(),
  locationId: z.string().nullable(),
  locationName: z.string().nullable(),
  entryId: z.string().nullable(),
  entryTitle: z.string().nullable(),
  justification: z.string(),
  durationHours: z.number(),
  requiredApprovals: z.number(),
  state: z.enum(['pending', 'approved', 'denied', 'cancelled', 'lapsed']),
  createdAt: when,
  lapsesAt: when,
  decidedAt: when.nullable(),
  grantId: z.string().nullable(),
  decisions: z.array(z.object({ approverId: z.string(), approverEmail: z.string(), decision: z.enum(['approve', 'deny']), reason: z.string(), decidedAt: when })),
  canDecide: z.boolean(),
});

export const NotificationOut = z.object({ id: z.string(), subject: z.string(), link: z.string().nullable(), createdAt: when, readAt: when.nullable() });

const mark = z.object({ by: z.string(), at: z.string(), note: z.string() });
const checkMark = mark.extend({ passed: z.boolean(), evidence: z.array(z.string()) });

/** A reset case's own data (the domain's `ResetCase`). */
export const ResetCaseDataOut = z.object({
  id: z.string(),
  lockId: z.string(),
  reason: z.string(),
  description: z.string(),
  openedBy: z.string(),
  openedAt: z.string(),
  state: z.string(),
  profile: z.object({
    resetBehaviour: z.enum(RESET_BEHAVIOURS),
    cloudBound: z.boolean(),
    mechanicalOverride: z.boolean(),
    remoteReset: z.boolean(),
    procedureSteps: z.number(),
    handbookEntryId: z.string().nullable(),
    handbookRevision: z.number().nullable(),
    batteryMinPercent: z.number(),
  }),
  recommendation: z.object({ remedy: z.string(), why: z.string() }),
  decision: z.object({ remedy: z.string(), overrideReason: z.string().nullable(), by: z.string(), at: z.string() }).nullable(),
  preflight: z.record(z.string(), checkMark),
  approvals: z.array(mark),
  snapshot: z.object({ items: z.array(z.object({ key: z.string(), label: z.string() })), schedules: z.number(), by: z.string(), at: z.string() }).nullable(),
  accountUnbind: mark.extend({ evidence: z.array(z.string()).optional() }).nullable(),
  procedureDone: z.array(z.number()),
  holds: z.record(z.string(), z.string()).optional(),
  reenrollment: z
    .object({ from: z.string().nullable(), to: z.string(), method: z.string(), manufacturer: z.string().nullable(), model: z.string().nullable(), serial: z.string().nullable(), by: z.string(), at: z.string() })
    .nullable()
    .optional(),
  reset: z.object({ method: z.enum(['physical', 'remote']), by: z.string(), at: z.string(), attempt: z.number() }).nullable(),
  attempts: z.number(),
  block: mark.extend({ reason: z.string() }).nullable(),
  replacement: mark.nullable(),
  verification: z.record(z.string(), checkMark),
  rebuilt: z.record(z.string(), z.object({ how: z.enum(['restored', 'reissued']), by: z.string(), at: z.string() })),
  outcome: z.string().nullable(),
  closedAt: z.string().nullable(),
  closedBy: z.string().nullable(),
  version: z.number().optional(),
});

/** A reset case with what the technician and the manager need to see next. */
export const ResetCaseOut = z.object({
  case: ResetCaseDataOut,
  version: z.number(),
  lock: z.object({ id: z.string(), name: z.string(), driver: z.string(), externalId: z.string().nullable(), serviceState: z.string() }),
  next: z.array(z.string()),
  missing: z.array(z.string()),
  requiredChecks: z.array(z.string()),
  lockedOut: z.array(z.object({ key: z.string(), label: z.string() })),
  procedure: z.array(z.object({ kind: z.string(), text: z.string(), seconds: z.number().optional(), sequence: z.string().optional() })).nullable(),
  steps: z.array(z.object({ seq: z.number(), phase: z.string(), command: z.string(), stateBefore: z.string(), stateAfter: z.string(), actor: z.string(), at: when, events: z.array(z.record(z.string(), z.unknown())) })),
  openIntents: z.array(z.object({ command: z.string(), idempotencyKey: z.string(), at: when })),
  record: z.object({ signature: z.string(), keyId: z.string() }).nullable(),
  /** The server's time when it answered, so a client counts a timed hold from the server's clock. */
  now: when,
});

/** How the case's lock is enrolled again, and what the person needs first (a link to reconnect an account). */
export const ResetEnrollmentOut = z.object({
  method: z
    .object({ kind: z.string(), code: z.enum(['none', 'dsk_pin', 'pairing_code']), security: z.array(z.enum(['s2', 's0', 'none'])), instructions: z.string() })
    .nullable(),
  preparation: z.object({ instructions: z.string(), url: z.string().nullable() }).nullable(),
  /** Why lockwarden cannot enroll this lock by itself, when it cannot. */
  unavailable: z.string().nullable(),
  cloudUnbind: z.boolean(),
});

/** The signed close-out record: the canonical JSON that was signed, the Ed25519 signature and the public key to check it. */
export const ResetCaseRecordOut = z.object({
  record: z.record(z.string(), z.unknown()),
  canonical: z.string(),
  signature: z.string(),
  keyId: z.string(),
  publicKeyPem: z.string(),
  verified: z.boolean(),
});

/** A photo kept as evidence on a reset case (metadata; the bytes are a separate download). */
export const ResetPhotoOut = z.object({
  id: z.string(),
  caseId: z.string(),
  caption: z.string(),
  filename: z.string(),
  mediaType: z.string(),
  size: z.number(),
  sha256: z.string(),
  width: z.number(),
  height: z.number(),
  createdBy: z.string(),
  createdAt: when,
});

/** The dashboard: open cases by state, cases per week by reason, failed checks, today's turnovers. */
/** A unit's turnover today: who leaves, who arrives, and each lock's state for both. */
export const TurnoverOut = z.object({
  locationId: z.string(),
  unitName: z.string(),
  outgoing: z.object({ id: z.string(), guestName: z.string(), checkOut: z.date() }).nullable(),
  incoming: z.object({ id: z.string(), guestName: z.string(), checkIn: z.date() }).nullable(),
  locks: z.array(z.object({ lockId: z.string(), lockName: z.string(), outgoing: z.string(), incoming: z.string(), error: z.string().nullable() })),
});

export const DashboardOut = z.object({
  casesByState: z.array(z.object({ state: z.string(), count: z.number() })),
  resetsByWeek: z.array(z.object({ week: z.string(), total: z.number(), byReason: z.record(z.string(), z.number()) })),
  verificationFailures: z.object({
    count: z.number(),
    latest: z.array(z.object({ caseId: z.string(), lockId: z.string(), lockName: z.string(), check: z.string(), note: z.string(), actor: z.string(), at: z.string() })),
  }),
  /** Units where a guest leaves or arrives today (in the unit's time zone), within the reader's credential.read scope. */
  turnoversToday: z.array(TurnoverOut),
  since: z.string(),
});
