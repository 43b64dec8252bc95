/**
 * The one schema, shared by PGlite and PostgreSQL. Keep to PostgreSQL 15 features: PGlite is newer,
 * production PostgreSQL may not be.
 */
import { sql } from 'drizzle-orm';
import { type AnyPgColumn, bigint, boolean, check, customType, date, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import type { Capabilities, CredentialStorage, Gating, LockFamily, ResetBehaviour } from '../domain/lock-models.js';
import type { LocationAttributes, LocationKind, Reading } from '../domain/locations.js';
import type { DriverName, ServiceState } from '../domain/locks.js';
import type { Role } from '../domain/identity.js';
import type { CredentialKind, CredentialStatus } from '../domain/credentials.js';
import type { HandbookContent, SecretKind } from '../domain/handbook.js';
import type { CredentialSchedule, DeviceStatus, ObservedCredentials } from '../drivers/contract.js';
import type { AlertKind } from '../domain/alerts.js';
import type { IntegrationConfig, IntegrationDriver } from '../domain/integrations.js';
import type { ResetCase, ResetState } from '../domain/reset-case.js';
import type { SecondFactorKind, SessionStage, TokenScope } from '../domain/second-factor.js';

/** An observed PIN slot as stored: the code only encrypted, plus its keyed fingerprint. */
export interface StoredObservedPin {
  slot: number;
  codeCipher: string | null;
  fingerprint: string | null;
  name: string;
  schedule: CredentialSchedule;
  enabled: boolean;
  /** An offline (algorithmic, time-bound) code (`ObservedPin.offline`). */
  offline?: boolean;
}

/** A full-text document; written only by the database (a generated column), read by search. */
const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' });

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const locations = pgTable(
  'locations',
  {
    id: uuid('id').primaryKey(),
    parentId: uuid('parent_id').references((): AnyPgColumn => locations.id, { onDelete: 'restrict' }),
    kind: text('kind').$type<LocationKind>().notNull(),
    name: text('name').notNull(),
    reading: text('reading').$type<Reading>().notNull(),
    attributes: jsonb('attributes').$type<LocationAttributes>().notNull().default({}),
    /** Materialized path `/root/.../id/` so a subtree is one prefix match. */
    path: text('path').notNull(),
    isDemo: boolean('is_demo').notNull().default(false),
    /** The person answerable for this site's documents (handbook, access): told of every access request. */
    documentOwnerId: uuid('document_owner_id').references((): AnyPgColumn => users.id, { onDelete: 'set null' }),
    createdAt: ts('created_at').notNull(),
    updatedAt: ts('updated_at').notNull(),
  },
  (t) => [
    index('locations_parent_idx').on(t.parentId),
    uniqueIndex('locations_path_idx').on(t.path),
    uniqueIndex('locations_sibling_name_idx').on(sql`coalesce(${t.parentId}, '00000000-0000-0000-0000-000000000000'::uuid)`, sql`lower(${t.name})`),
    check('locations_kind_check', sql`${t.kind} in ('organisation','site','building','floor','unit','door')`),
    check('locations_reading_check', sql`${t.reading} in ('residential','commercial')`),
  ],
);

export const lockModels = pgTable(
  'lock_models',
  {
    id: uuid('id').primaryKey(),
    manufacturer: text('manufacturer').notNull(),
    modelNumber: text('model_number').notNull(),
    name: text('name').notNull().default(''),
    family: text('family').$type<LockFamily>().notNull(),
    capabilities: jsonb('capabilities').$type<Capabilities>().notNull(),
    resetBehaviour: text('reset_behaviour').$type<ResetBehaviour>().notNull(),
    gating: jsonb('gating').$type<Gating>().notNull(),
    credentialStorage: text('credential_storage').$type<CredentialStorage>().notNull(),
    mechanicalOverride: boolean('mechanical_override').notNull(),
    isDemo: boolean('is_demo').notNull().default(false),
    createdAt: ts('created_at').notNull(),
    updatedAt: ts('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('lock_models_identity_idx').on(sql`lower(${t.manufacturer})`, sql`lower(${t.modelNumber})`),
    check('lock_models_family_check', sql`${t.family} in ('electronic_deadbolt','keypad_entry','app_controlled','biometric','safe_cabinet')`),
    check('lock_models_reset_check', sql`${t.resetBehaviour} in ('local_only_keeps_cloud','full_trust_anchor_erase','split')`),
  ],
);

export const locks = pgTable(
  'locks',
  {
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    modelId: uuid('model_id').notNull().references(() => lockModels.id, { onDelete: 'restrict' }),
    locationId: uuid('location_id').notNull().references(() => locations.id, { onDelete: 'restrict' }),
    serial: text('serial').notNull().default(''),
    firmware: text('firmware').notNull().default(''),
    installedOn: date('installed_on', { mode: 'string' }),
    driver: text('driver').$type<DriverName>().notNull(),
    externalId: text('external_id'),
    credentialStorage: text('credential_storage').$type<CredentialStorage>().notNull(),
    mechanicalOverride: boolean('mechanical_override').notNull(),
    batteryPercent: integer('battery_percent'),
    batteryReportedAt: ts('battery_reported_at'),
    serviceState: text('service_state').$type<ServiceState>().notNull(),
    retiredAt: ts('retired_at'),
    retiredReason: text('retired_reason'),
    notes: text('notes').notNull().default(''),
    isDemo: boolean('is_demo').notNull().default(false),
    version: integer('version').notNull().default(1),
    createdAt: ts('created_at').notNull(),
    updatedAt: ts('updated_at').notNull(),
  },
  (t) => [
    index('locks_location_idx').on(t.locationId),
    index('locks_model_idx').on(t.modelId),
    index('locks_state_idx').on(t.serviceState),
    uniqueIndex('locks_driver_external_idx').on(t.driver, t.externalId).where(sql`${t.externalId} is not null`),
    check('locks_battery_check', sql`${t.batteryPercent} is null or (${t.batteryPercent} between 0 and 100)`),
    check('locks_state_check', sql`${t.serviceState} in ('in_service','setup_mode','needs_attention','reset_in_progress','retired')`),
  ],
);

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey(),
    email: text('email').notNull(),
    displayName: text('display_name').notNull(),
    passwordHash: text('password_hash'),
    createdAt: ts('created_at').notNull(),
    disabledAt: ts('disabled_at'),
  },
  (t) => [uniqueIndex('users_email_idx').on(sql`lower(${t.email})`)],
);

export const sessions = pgTable(
  'sessions',
  {
    /** SHA-256 of the cookie value; the value itself is never stored. */
    tokenHash: text('token_hash').primaryKey(),
    userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    csrfToken: text('csrf_token').notNull(),
    createdAt: ts('created_at').notNull(),
    expiresAt: ts('expires_at').notNull(),
    lastSeenAt: ts('last_seen_at').notNull(),
    /** `full`, or limited to giving the second factor / enrolling one (src/domain/second-factor.ts). */
    stage: text('stage').$type<SessionStage>().notNull().default('full'),
    /** The last "confirm it's you" in this session; step-up actions need it within 5 minutes. */
    stepUpAt: ts('step_up_at'),
    /** The WebAuthn challenge this session was last given, with its purpose and expiry (one at a time). */
    webauthnChallenge: jsonb('webauthn_challenge').$type<{ challenge: string; purpose: 'register' | 'authenticate'; expiresAt: string } | null>(),
  },
  (t) => [index('sessions_user_idx').on(t.userId)],
);

/**
 * A user's second factors: an authenticator app (TOTP: the seed sealed with the SecretBox, bound to
 * the row; `confirmed_at` null until a first code proves the app has it; `last_time_step` refuses a
 * code used before) or a WebAuthn credential (passkey, security key: its public key and counter).
 */
/**
 * Accounts linked to an identity at the single sign-on provider: the IdP's issuer and subject (its
 * stable id for the person), linked once by verified email; later sign-ins match by subject.
 */
export const ssoIdentities = pgTable(
  'sso_identities',
  {
    issuer: text('issuer').notNull(),
    subject: text('subject').notNull(),
    userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    emailAtLink: text('email_at_link').notNull(),
    linkedAt: ts('linked_at').notNull(),
    lastSignInAt: ts('last_sign_in_at'),
  },
  (t) => [primaryKey({ columns: [t.issuer, t.subject] }), index('sso_identities_user_idx').on(t.userId)],
);

export const secondFactors = pgTable(
  'second_factors',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    kind: text('kind').$type<SecondFactorKind>().notNull(),
    label: text('label').notNull(),
    secretCipher: text('secret_cipher'),
    lastTimeStep: bigint('last_time_step', { mode: 'number' }),
    credentialId: text('credential_id'),
    publicKey: text('public_key'),
    signCount: bigint('sign_count', { mode: 'number' }),
    transports: jsonb('transports').$type<string[]>(),
    createdAt: ts('created_at').notNull(),
    confirmedAt: ts('confirmed_at'),
    lastUsedAt: ts('last_used_at'),
  },
  (t) => [index('second_factors_user_idx').on(t.userId), uniqueIndex('second_factors_credential_idx').on(t.credentialId)],
);

/** One-time recovery codes: only a keyed HMAC of each (key outside the database); used ones keep `used_at`. */
export const recoveryCodes = pgTable(
  'recovery_codes',
  {
    userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    codeMac: text('code_mac').notNull(),
    createdAt: ts('created_at').notNull(),
    usedAt: ts('used_at'),
  },
  (t) => [primaryKey({ columns: [t.userId, t.codeMac] })],
);

export const apiTokens = pgTable(
  'api_tokens',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    prefix: text('prefix').notNull(),
    tokenHash: text('token_hash').notNull(),
    createdAt: ts('created_at').notNull(),
    lastUsedAt: ts('last_used_at'),
    expiresAt: ts('expires_at'),
    revokedAt: ts('revoked_at'),
    /** read | write | full (src/domain/second-factor.ts); tokens made before scopes existed are `write`. */
    scope: text('scope').$type<TokenScope>().notNull().default('write'),
  },
  (t) => [uniqueIndex('api_tokens_hash_idx').on(t.tokenHash)],
);

export const oneTimeTokens = pgTable('one_time_tokens', {
  tokenHash: text('token_hash').primaryKey(),
  userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  purpose: text('purpose').notNull(),
  createdAt: ts('created_at').notNull(),
  expiresAt: ts('expires_at').notNull(),
  usedAt: ts('used_at'),
});

/**
 * Throttling counters (src/domain/throttle.ts), one row per key: sign-in attempts per account,
 * client address and device cookie, and secret reveals per account. Updated under a row lock, so
 * several processes on one PostgreSQL share them.
 */
export const throttleCounters = pgTable('throttle_counters', {
  key: text('key').primaryKey(),
  count: integer('count').notNull(),
  windowStart: ts('window_start').notNull(),
  capCount: integer('cap_count').notNull(),
  capStart: ts('cap_start').notNull(),
  lastAt: ts('last_at').notNull(),
});

/** Small instance facts: when the demo was loaded, the instance id. */
export const instanceMeta = pgTable('instance_meta', {
  key: text('key').primaryKey(),
  value: jsonb('value').notNull(),
  updatedAt: ts('updated_at').notNull(),
  /** Monotonic counter column, kept int8 so both engines are checked for the same JS type. */
  revision: bigint('revision', { mode: 'number' }).notNull().default(0),
});

/**
 * Desired credentials: what lockwarden wants on each lock. A PIN occupies its slot from creation
 * until its removal is confirmed (`removed`); the code is stored only encrypted (`code_cipher`) and
 * compared by keyed fingerprint (`code_mac`).
 */
export const credentials = pgTable(
  'credentials',
  {
    id: uuid('id').primaryKey(),
    lockId: uuid('lock_id').notNull().references(() => locks.id, { onDelete: 'cascade' }),
    kind: text('kind').$type<CredentialKind>().notNull(),
    slot: integer('slot'),
    controllerId: text('controller_id'),
    holder: text('holder').notNull(),
    codeCipher: text('code_cipher'),
    codeMac: text('code_mac'),
    schedule: jsonb('schedule').$type<CredentialSchedule>().notNull(),
    status: text('status').$type<CredentialStatus>().notNull(),
    origin: text('origin').$type<'lockwarden' | 'adopted'>().notNull(),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    version: integer('version').notNull().default(1),
    createdBy: text('created_by').notNull(),
    createdAt: ts('created_at').notNull(),
    updatedAt: ts('updated_at').notNull(),
    confirmedAt: ts('confirmed_at'),
    removedAt: ts('removed_at'),
  },
  (t) => [
    index('credentials_lock_idx').on(t.lockId),
    uniqueIndex('credentials_live_slot_idx').on(t.lockId, t.slot).where(sql`${t.status} <> 'removed' and ${t.kind} = 'pin'`),
    check('credentials_kind_check', sql`${t.kind} in ('pin','controller')`),
    check('credentials_status_check', sql`${t.status} in ('pending','confirmed','failed','removing','removed')`),
  ],
);

/** What each lock last reported: one row per lock, replaced on every read. */
export const lockObservations = pgTable('lock_observations', {
  lockId: uuid('lock_id')
    .primaryKey()
    .references(() => locks.id, { onDelete: 'cascade' }),
  readAt: ts('read_at'),
  /** Observed slots; codes encrypted (`codeCipher`) and fingerprinted (`fingerprint`). */
  pins: jsonb('pins').$type<StoredObservedPin[]>().notNull().default([]),
  controllers: jsonb('controllers').$type<ObservedCredentials['controllers']>().notNull().default([]),
  digitalKeys: jsonb('digital_keys').$type<ObservedCredentials['digitalKeys']>().notNull().default([]),
  biometrics: jsonb('biometrics').$type<ObservedCredentials['biometrics']>().notNull().default([]),
  status: jsonb('status').$type<DeviceStatus>(),
  /** Set before writes are sent and cleared after: a job that finds it set reads the lock first. */
  inDoubt: boolean('in_doubt').notNull().default(false),
  lastError: text('last_error'),
  updatedAt: ts('updated_at').notNull(),
});

/** A change asked of many locks at once; its progress is derived from its items' credentials. */
export const bulkOperations = pgTable('bulk_operations', {
  id: uuid('id').primaryKey(),
  kind: text('kind').$type<'add_pin' | 'revoke_holder' | 'reconcile'>().notNull(),
  description: text('description').notNull(),
  createdBy: text('created_by').notNull(),
  createdAt: ts('created_at').notNull(),
});

export const bulkOperationItems = pgTable(
  'bulk_operation_items',
  {
    bulkId: uuid('bulk_id')
      .notNull()
      .references(() => bulkOperations.id, { onDelete: 'cascade' }),
    lockId: uuid('lock_id')
      .notNull()
      .references(() => locks.id, { onDelete: 'cascade' }),
    credentialId: uuid('credential_id').references(() => credentials.id, { onDelete: 'cascade' }),
    /** The credential status that means this item is done. */
    target: text('target').$type<'confirmed' | 'removed'>(),
    /** Set when the item could not even be queued (bad PIN for that model, no free slot). */
    error: text('error'),
  },
  (t) => [index('bulk_items_bulk_idx').on(t.bulkId), index('bulk_items_credential_idx').on(t.credentialId)],
);

/**
 * Handbook entries: one per model (lock_id null) and at most one override per installed lock. The
 * content lives in revisions; the entry keeps what lists, search and staleness need. `search_text`
 * and `model_key` are derived on every save and never hold a secret.
 */
export const handbookEntries = pgTable(
  'handbook_entries',
  {
    id: uuid('id').primaryKey(),
    modelId: uuid('model_id').notNull().references(() => lockModels.id, { onDelete: 'restrict' }),
    lockId: uuid('lock_id').references(() => locks.id, { onDelete: 'restrict' }),
    currentRevision: integer('current_revision').notNull(),
    title: text('title').notNull(),
    generic: boolean('generic').notNull().default(false),
    searchText: text('search_text').notNull(),
    /** `search_text` parsed once on write (not on every search), under the GIN index search uses. */
    searchVector: tsvector('search_vector')
      .notNull()
      .generatedAlwaysAs(sql`to_tsvector('simple'::regconfig, search_text)`),
    /** The model number lower-cased, letters and digits only, for typo-tolerant (trigram) matching. */
    modelKey: text('model_key').notNull(),
    verificationWindowDays: integer('verification_window_days').notNull().default(180),
    verifiedAt: ts('verified_at'),
    verifiedBy: text('verified_by'),
    verifiedRevision: integer('verified_revision'),
    isDemo: boolean('is_demo').notNull().default(false),
    createdAt: ts('created_at').notNull(),
    updatedAt: ts('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('handbook_entries_model_idx').on(t.modelId).where(sql`${t.lockId} is null`),
    uniqueIndex('handbook_entries_lock_idx').on(t.lockId).where(sql`${t.lockId} is not null`),
    // fastupdate off: PGlite runs no autovacuum, so a pending list would never be merged and every
    // search would scan up to gin_pending_list_limit (4 MB) of it linearly (~1-2 ms per index).
    index('handbook_entries_search_vector_idx').using('gin', t.searchVector).with({ fastupdate: false }),
    index('handbook_entries_model_key_trgm_idx').using('gin', t.modelKey.op('gin_trgm_ops')).with({ fastupdate: false }),
    check('handbook_entries_window_check', sql`${t.verificationWindowDays} between 1 and 3650`),
  ],
);

/** Every save of an entry: immutable (the repository has no update for it), numbered from 1. */
export const handbookRevisions = pgTable(
  'handbook_revisions',
  {
    entryId: uuid('entry_id')
      .notNull()
      .references(() => handbookEntries.id, { onDelete: 'cascade' }),
    revision: integer('revision').notNull(),
    content: jsonb('content').$type<HandbookContent>().notNull(),
    reason: text('reason').notNull(),
    authorId: text('author_id').notNull(),
    authorLabel: text('author_label').notNull(),
    createdAt: ts('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.entryId, t.revision] })],
);

/** Each time someone confirmed an entry against the lock: who, when, at which revision. */
export const handbookVerifications = pgTable(
  'handbook_verifications',
  {
    id: uuid('id').primaryKey(),
    entryId: uuid('entry_id')
      .notNull()
      .references(() => handbookEntries.id, { onDelete: 'cascade' }),
    revision: integer('revision').notNull(),
    verifiedById: text('verified_by_id').notNull(),
    verifiedBy: text('verified_by').notNull(),
    verifiedAt: ts('verified_at').notNull(),
    note: text('note').notNull().default(''),
  },
  (t) => [index('handbook_verifications_entry_idx').on(t.entryId)],
);

/**
 * Data keys, one per scope (`site:<id>` or `deployment`), stored only wrapped by a master key version.
 * A rotation re-wraps these rows; the secrets they encrypt are untouched.
 */
export const dataKeys = pgTable('data_keys', {
  id: uuid('id').primaryKey(),
  scope: text('scope').notNull().unique(),
  version: integer('version').notNull().default(1),
  wrappedKey: text('wrapped_key').notNull(),
  masterVersion: integer('master_version').notNull(),
  createdAt: ts('created_at').notNull(),
  rotatedAt: ts('rotated_at'),
});

/** Sensitive values of a handbook entry (master code, reset card number...), sealed under a data key. */
export const handbookSecrets = pgTable(
  'handbook_secrets',
  {
    id: uuid('id').primaryKey(),
    entryId: uuid('entry_id')
      .notNull()
      .references(() => handbookEntries.id, { onDelete: 'cascade' }),
    kind: text('kind').$type<SecretKind>().notNull(),
    label: text('label').notNull().default(''),
    cipher: text('cipher').notNull(),
    dataKeyId: uuid('data_key_id')
      .notNull()
      .references(() => dataKeys.id, { onDelete: 'restrict' }),
    createdBy: text('created_by').notNull(),
    createdAt: ts('created_at').notNull(),
    updatedAt: ts('updated_at').notNull(),
  },
  (t) => [
    index('handbook_secrets_entry_idx').on(t.entryId),
    check('handbook_secrets_kind_check', sql`${t.kind} in ('master_code','programming_code','installer_code','reset_card_number','other')`),
  ],
);

/**
 * Every reveal of a secret: who, when, which, why. Kept without foreign keys so the record outlives
 * the secret; the audit-log issue will take these rows over.
 */
export const secretReveals = pgTable(
  'secret_reveals',
  {
    id: uuid('id').primaryKey(),
    secretId: uuid('secret_id').notNull(),
    entryId: uuid('entry_id').notNull(),
    secretKind: text('secret_kind').notNull(),
    actorId: text('actor_id').notNull(),
    actorLabel: text('actor_label').notNull(),
    reason: text('reason').notNull(),
    revealedAt: ts('revealed_at').notNull(),
  },
  (t) => [index('secret_reveals_secret_idx').on(t.secretId), index('secret_reveals_at_idx').on(t.revealedAt)],
);

/** Raw bytes. pg hands back a Buffer, PGlite a Uint8Array: both become a Buffer. */
const bytea = customType<{ data: Buffer; driverData: Buffer | Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (v) => (Buffer.isBuffer(v) ? v : Buffer.from(v)),
  toDriver: (v) => v,
});

/**
 * Photos, diagrams and PDFs of a handbook entry, kept in the database so a backup carries them. Images
 * are stored with their metadata (EXIF, GPS, XMP) stripped and upright; `thumbnail` is a small WebP.
 * Not part of revisions; additions and removals are recorded in handbook_attachment_events.
 */
export const handbookAttachments = pgTable(
  'handbook_attachments',
  {
    id: uuid('id').primaryKey(),
    entryId: uuid('entry_id')
      .notNull()
      .references(() => handbookEntries.id, { onDelete: 'cascade' }),
    /** The step (1-based) it illustrates, or null for the whole entry. */
    step: integer('step'),
    caption: text('caption').notNull().default(''),
    filename: text('filename').notNull(),
    mediaType: text('media_type').notNull(),
    size: integer('size').notNull(),
    sha256: text('sha256').notNull(),
    width: integer('width'),
    height: integer('height'),
    bytes: bytea('bytes').notNull(),
    thumbnail: bytea('thumbnail'),
    createdById: text('created_by_id').notNull(),
    createdBy: text('created_by').notNull(),
    createdAt: ts('created_at').notNull(),
  },
  (t) => [
    index('handbook_attachments_entry_idx').on(t.entryId),
    check('handbook_attachments_type_check', sql`${t.mediaType} in ('image/png','image/jpeg','image/webp','application/pdf')`),
    check('handbook_attachments_size_check', sql`${t.size} between 1 and 5242880`),
    check('handbook_attachments_step_check', sql`${t.step} is null or ${t.step} >= 1`),
  ],
);

/** Who added or removed which attachment, when. No foreign keys: the record outlives the attachment. */
export const handbookAttachmentEvents = pgTable(
  'handbook_attachment_events',
  {
    id: uuid('id').primaryKey(),
    entryId: uuid('entry_id').notNull(),
    attachmentId: uuid('attachment_id').notNull(),
    action: text('action').$type<'added' | 'removed'>().notNull(),
    filename: text('filename').notNull(),
    step: integer('step'),
    actorId: text('actor_id').notNull(),
    actorLabel: text('actor_label').notNull(),
    at: ts('at').notNull(),
  },
  (t) => [index('handbook_attachment_events_entry_idx').on(t.entryId, t.at), check('handbook_attachment_events_action_check', sql`${t.action} in ('added','removed')`)],
);

/**
 * Who may do what, where: a role on a location subtree (`location_id` null = the whole organisation),
 * or the right to reveal one handbook entry's secrets. Never updated except to revoke; a grant from
 * an access request names it. Nobody grants to themselves (checked here as well as in the service).
 */
export const accessGrants = pgTable(
  'access_grants',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    kind: text('kind').$type<'role' | 'reveal'>().notNull(),
    role: text('role').$type<Role>(),
    locationId: uuid('location_id').references(() => locations.id, { onDelete: 'restrict' }),
    entryId: uuid('entry_id').references(() => handbookEntries.id, { onDelete: 'cascade' }),
    requestId: uuid('request_id'),
    grantedBy: text('granted_by').notNull(),
    grantedAt: ts('granted_at').notNull(),
    expiresAt: ts('expires_at'),
    revokedAt: ts('revoked_at'),
    revokedBy: text('revoked_by'),
    revokeReason: text('revoke_reason'),
  },
  (t) => [
    index('access_grants_user_idx').on(t.userId),
    index('access_grants_location_idx').on(t.locationId),
    check('access_grants_kind_check', sql`(${t.kind} = 'role' and ${t.role} is not null and ${t.entryId} is null) or (${t.kind} = 'reveal' and ${t.entryId} is not null and ${t.role} is null and ${t.locationId} is null)`),
    check('access_grants_role_check', sql`${t.role} is null or ${t.role} in ('owner','admin','manager','technician','auditor','occupant')`),
    check('access_grants_not_self_check', sql`${t.grantedBy} <> ${t.userId}::text`),
    check('access_grants_expiry_check', sql`${t.expiresAt} is null or ${t.expiresAt} > ${t.grantedAt}`),
  ],
);

/** A request for access someone does not have, with a justification and a duration; decided by others. */
export const accessRequests = pgTable(
  'access_requests',
  {
    id: uuid('id').primaryKey(),
    requesterId: uuid('requester_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    kind: text('kind').$type<'role' | 'reveal'>().notNull(),
    role: text('role').$type<Role>(),
    locationId: uuid('location_id').references(() => locations.id, { onDelete: 'restrict' }),
    entryId: uuid('entry_id').references(() => handbookEntries.id, { onDelete: 'cascade' }),
    justification: text('justification').notNull(),
    durationHours: integer('duration_hours').notNull(),
    requiredApprovals: integer('required_approvals').notNull(),
    state: text('state').$type<'pending' | 'approved' | 'denied' | 'cancelled'>().notNull(),
    createdAt: ts('created_at').notNull(),
    /** A request nobody decided lapses at this time (checked when read, no sweeper needed). */
    lapsesAt: ts('lapses_at').notNull(),
    decidedAt: ts('decided_at'),
    grantId: uuid('grant_id'),
  },
  (t) => [
    index('access_requests_requester_idx').on(t.requesterId),
    index('access_requests_state_idx').on(t.state),
    check('access_requests_kind_check', sql`(${t.kind} = 'role' and ${t.role} is not null and ${t.entryId} is null) or (${t.kind} = 'reveal' and ${t.entryId} is not null and ${t.role} is null)`),
    check('access_requests_state_check', sql`${t.state} in ('pending','approved','denied','cancelled')`),
    check('access_requests_duration_check', sql`${t.durationHours} between 1 and 8760`),
    check('access_requests_approvals_check', sql`${t.requiredApprovals} between 1 and 3`),
  ],
);

/** One person's decision on a request. The requester is copied here so the database refuses self-approval. */
export const accessDecisions = pgTable(
  'access_decisions',
  {
    requestId: uuid('request_id').notNull().references(() => accessRequests.id, { onDelete: 'cascade' }),
    approverId: uuid('approver_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    requesterId: uuid('requester_id').notNull(),
    decision: text('decision').$type<'approve' | 'deny'>().notNull(),
    reason: text('reason').notNull(),
    decidedAt: ts('decided_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.requestId, t.approverId] }),
    check('access_decisions_not_self_check', sql`${t.approverId} <> ${t.requesterId}`),
    check('access_decisions_decision_check', sql`${t.decision} in ('approve','deny')`),
  ],
);

/** In-app notices (an access request to decide, a decision on one's own request). */
/** Controllers, brokers and workspaces real locks are reached through (`src/domain/integrations.ts`). */
export const integrations = pgTable('integrations', {
  id: uuid('id').primaryKey(),
  driver: text('driver').$type<IntegrationDriver>().notNull(),
  name: text('name').notNull(),
  config: jsonb('config').$type<IntegrationConfig>().notNull(),
  /** The secret (API key, broker password) sealed with the secret key, bound to the row id; never returned. */
  secretSealed: text('secret_sealed'),
  /** A webhook signing secret (Seam), sealed the same way. */
  webhookSecretSealed: text('webhook_secret_sealed'),
  createdAt: ts('created_at').notNull(),
  createdBy: text('created_by').notNull(),
});

/** What devices reported about a lock (driver events), for its history. */
export const lockEvents = pgTable(
  'lock_events',
  {
    id: uuid('id').primaryKey(),
    lockId: uuid('lock_id').notNull().references(() => locks.id, { onDelete: 'cascade' }),
    at: ts('at').notNull(),
    type: text('type').notNull(),
    summary: text('summary').notNull(),
    source: text('source').notNull(),
  },
  (t) => [index('lock_events_lock_idx').on(t.lockId, t.at)],
);

/** Alerts on a lock (`src/domain/alerts.ts`): at most one open per lock and kind. */
export const lockAlerts = pgTable(
  'lock_alerts',
  {
    id: uuid('id').primaryKey(),
    lockId: uuid('lock_id').notNull().references(() => locks.id, { onDelete: 'cascade' }),
    kind: text('kind').$type<AlertKind>().notNull(),
    detail: text('detail').notNull().default(''),
    source: text('source').notNull(),
    raisedAt: ts('raised_at').notNull(),
    lastSeenAt: ts('last_seen_at').notNull(),
    count: integer('count').notNull().default(1),
    acknowledgedAt: ts('acknowledged_at'),
    acknowledgedById: uuid('acknowledged_by_id'),
    acknowledgedBy: text('acknowledged_by'),
    note: text('note'),
  },
  (t) => [
    uniqueIndex('lock_alerts_open_idx').on(t.lockId, t.kind).where(sql`${t.acknowledgedAt} is null`),
    index('lock_alerts_raised_idx').on(t.raisedAt),
  ],
);

export const notifications = pgTable(
  'notifications',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    subject: text('subject').notNull(),
    link: text('link'),
    createdAt: ts('created_at').notNull(),
    readAt: ts('read_at'),
  },
  (t) => [index('notifications_user_idx').on(t.userId, t.createdAt)],
);

/**
 * The tamper-evident audit log: every change, sign-in and read of a secret, one row each, chained by
 * hash (`prev_hash` = the previous row's `hash`). `seq` is gapless: it is assigned under the lock of
 * the `audit_head` row, in the transaction of the action recorded. A trigger (migration 0007) refuses
 * UPDATE, DELETE and TRUNCATE. Secret values appear only as keyed HMACs in `secret_macs`.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey(),
    at: ts('at').notNull(),
    actorId: text('actor_id').notNull(),
    actorLabel: text('actor_label').notNull(),
    action: text('action').notNull(),
    outcome: text('outcome').$type<'success' | 'failure' | 'denied'>().notNull(),
    targetType: text('target_type'),
    targetId: text('target_id'),
    targetLabel: text('target_label'),
    /** The location the target belongs to (no foreign key: the record outlives it). */
    locationId: uuid('location_id'),
    clientIp: text('client_ip'),
    userAgent: text('user_agent'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull(),
    secretMacs: jsonb('secret_macs').$type<Record<string, string>>().notNull(),
    prevHash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [
    index('audit_log_at_idx').on(t.at),
    index('audit_log_actor_idx').on(t.actorId, t.seq),
    index('audit_log_action_idx').on(sql`${t.action} text_pattern_ops`),
    index('audit_log_target_idx').on(t.targetId, t.seq),
    index('audit_log_location_idx').on(t.locationId, t.seq),
    check('audit_log_outcome_check', sql`${t.outcome} in ('success','failure','denied')`),
  ],
);

/** The chain's head, one row: the last seq and hash. Locked FOR UPDATE by every append, which serializes them. */
export const auditHead = pgTable(
  'audit_head',
  {
    id: integer('id').primaryKey(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    hash: text('hash').notNull(),
    /**
     * The first seq whose hash is keyed with the deployment's secret (entries before it were written
     * unkeyed, before migration 0019); null until the first append after the upgrade sets it.
     */
    keyedFrom: bigint('keyed_from', { mode: 'number' }),
  },
  (t) => [check('audit_head_single_check', sql`${t.id} = 1`)],
);

/**
 * Signed checkpoints of the chain ({seq, hash, time} under Ed25519); also appended to a file outside the
 * database and sent to the witness. From migration 0019 each also signs the seq of the checkpoint
 * before it (`prev_seq`, 0 for the first) and where the keyed chain starts (`keyed_from`); both are
 * null on older checkpoints.
 */
export const auditCheckpoints = pgTable('audit_checkpoints', {
  seq: bigint('seq', { mode: 'number' }).primaryKey(),
  hash: text('hash').notNull(),
  at: ts('at').notNull(),
  keyId: text('key_id').notNull(),
  signature: text('signature').notNull(),
  prevSeq: bigint('prev_seq', { mode: 'number' }),
  keyedFrom: bigint('keyed_from', { mode: 'number' }),
});

/** Public keys that have signed checkpoints, by key id. */
export const auditSigningKeys = pgTable('audit_signing_keys', {
  keyId: text('key_id').primaryKey(),
  publicKey: text('public_key').notNull(),
  createdAt: ts('created_at').notNull(),
});

/**
 * Reset cases: the whole case as the domain's JSON (`data`), with the columns lists and the
 * one-open-case-per-lock rule need. `version` moves by one per step (a step is applied only at the
 * version it was computed from).
 */
export const resetCases = pgTable(
  'reset_cases',
  {
    id: uuid('id').primaryKey(),
    lockId: uuid('lock_id').notNull().references(() => locks.id, { onDelete: 'restrict' }),
    reason: text('reason').notNull(),
    state: text('state').$type<ResetState>().notNull(),
    data: jsonb('data').$type<ResetCase>().notNull(),
    version: integer('version').notNull().default(1),
    openedBy: text('opened_by').notNull(),
    openedAt: ts('opened_at').notNull(),
    updatedAt: ts('updated_at').notNull(),
    closedAt: ts('closed_at'),
    /** The close-out record (canonical JSON) and its Ed25519 signature, written once at close-out. */
    record: text('record'),
    recordSignature: text('record_signature'),
    recordKeyId: text('record_key_id'),
  },
  (t) => [
    index('reset_cases_lock_idx').on(t.lockId),
    index('reset_cases_state_idx').on(t.state),
    uniqueIndex('reset_cases_one_open_idx').on(t.lockId).where(sql`${t.state} not in ('closed','cancelled')`),
  ],
);

/**
 * The append-only log of a case's steps. A step is written once per idempotency key and phase:
 * `intent` before a device command goes out (so a restart knows it may have), `done` with the
 * events it applied. A retried request finds its `done` row and changes nothing.
 */
export const resetCaseSteps = pgTable(
  'reset_case_steps',
  {
    caseId: uuid('case_id').notNull().references(() => resetCases.id, { onDelete: 'restrict' }),
    seq: integer('seq').notNull(),
    idempotencyKey: text('idempotency_key').notNull(),
    phase: text('phase').$type<'intent' | 'done'>().notNull(),
    command: text('command').notNull(),
    /** The request as given (never a code), and the domain events it became. */
    request: jsonb('request').$type<Record<string, unknown>>().notNull(),
    events: jsonb('events').$type<Record<string, unknown>[]>().notNull(),
    stateBefore: text('state_before').notNull(),
    stateAfter: text('state_after').notNull(),
    actorId: text('actor_id').notNull(),
    actorLabel: text('actor_label').notNull(),
    at: ts('at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.caseId, t.seq] }),
    uniqueIndex('reset_case_steps_key_idx').on(t.caseId, t.idempotencyKey, t.phase),
    check('reset_case_steps_phase_check', sql`${t.phase} in ('intent','done')`),
  ],
);

/**
 * Photos a case's checks carry as evidence (the latch working, the override key turning): stored with
 * the case, metadata (GPS) stripped and upright like handbook attachments, with a WebP thumbnail. A
 * check names them by id in its `evidence`. Kept while the case is kept (the close-out record lists
 * them by hash).
 */
export const resetCasePhotos = pgTable(
  'reset_case_photos',
  {
    id: uuid('id').primaryKey(),
    caseId: uuid('case_id')
      .notNull()
      .references(() => resetCases.id, { onDelete: 'restrict' }),
    caption: text('caption').notNull().default(''),
    filename: text('filename').notNull(),
    mediaType: text('media_type').notNull(),
    size: integer('size').notNull(),
    sha256: text('sha256').notNull(),
    width: integer('width').notNull(),
    height: integer('height').notNull(),
    bytes: bytea('bytes').notNull(),
    thumbnail: bytea('thumbnail').notNull(),
    createdById: text('created_by_id').notNull(),
    createdBy: text('created_by').notNull(),
    createdAt: ts('created_at').notNull(),
  },
  (t) => [
    index('reset_case_photos_case_idx').on(t.caseId),
    check('reset_case_photos_type_check', sql`${t.mediaType} in ('image/png','image/jpeg','image/webp')`),
    check('reset_case_photos_size_check', sql`${t.size} between 1 and 5242880`),
  ],
);

/**
 * What must survive a reset, sealed before anything destructive: the case's PINs with their codes and
 * schedules as JSON, AES-256-GCM under a data key (envelope encryption), the case id bound as
 * associated data. Written once per case.
 */
export const resetSnapshots = pgTable('reset_snapshots', {
  caseId: uuid('case_id').primaryKey().references(() => resetCases.id, { onDelete: 'restrict' }),
  dataKeyId: uuid('data_key_id').notNull().references(() => dataKeys.id, { onDelete: 'restrict' }),
  cipher: text('cipher').notNull(),
  items: integer('items').notNull(),
  createdAt: ts('created_at').notNull(),
});

/**
 * Where notifications go, for the whole organisation (`location_id` null) or for one place and
 * everything below it: a webhook (its signing secret sealed, bound to the endpoint id) or an email
 * address. `purpose` says which notices it takes: the monitoring service (alarms, turnovers not
 * confirmed, resets) or the occupants of a place.
 */
export const notificationEndpoints = pgTable(
  'notification_endpoints',
  {
    id: uuid('id').primaryKey(),
    locationId: uuid('location_id').references(() => locations.id, { onDelete: 'cascade' }),
    channel: text('channel').$type<'webhook' | 'email'>().notNull(),
    purpose: text('purpose').$type<'monitoring' | 'occupants'>().notNull(),
    name: text('name').notNull(),
    /** The webhook URL or the email address (not a secret). */
    target: text('target').notNull(),
    secretSealed: text('secret_sealed'),
    createdBy: text('created_by').notNull(),
    createdAt: ts('created_at').notNull(),
  },
  (t) => [
    index('notification_endpoints_location_idx').on(t.locationId),
    check('notification_endpoints_channel_check', sql`${t.channel} in ('webhook','email')`),
    check('notification_endpoints_purpose_check', sql`${t.purpose} in ('monitoring','occupants')`),
  ],
);

/**
 * The notification outbox: one row per message to one recipient, written in the transaction of the
 * change that causes it and delivered afterwards with retries. The body may carry a guest's code, so
 * it is stored sealed (bound to the message id); subject and target are not secret.
 */
export const notificationOutbox = pgTable(
  'notification_outbox',
  {
    id: uuid('id').primaryKey(),
    endpointId: uuid('endpoint_id').references(() => notificationEndpoints.id, { onDelete: 'set null' }),
    channel: text('channel').$type<'webhook' | 'email'>().notNull(),
    target: text('target').notNull(),
    topic: text('topic').notNull(),
    subject: text('subject').notNull(),
    bodySealed: text('body_sealed').notNull(),
    locationId: uuid('location_id').references(() => locations.id, { onDelete: 'set null' }),
    status: text('status').$type<'pending' | 'delivered' | 'failed'>().notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at').notNull(),
    lastError: text('last_error'),
    createdAt: ts('created_at').notNull(),
    deliveredAt: ts('delivered_at'),
  },
  (t) => [
    index('notification_outbox_due_idx').on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`),
    index('notification_outbox_created_idx').on(t.createdAt),
    check('notification_outbox_status_check', sql`${t.status} in ('pending','delivered','failed')`),
  ],
);

/** A unit's occupancy settings: its booking calendar feed, time zone and usual check-in/out times. */
export const unitOccupancy = pgTable('unit_occupancy', {
  locationId: uuid('location_id').primaryKey().references(() => locations.id, { onDelete: 'cascade' }),
  /** The feed URL, sealed (SecretBox, bound to the unit): a platform's export URL is its own access token. */
  icalUrl: text('ical_url'),
  timeZone: text('time_zone').notNull().default('UTC'),
  checkInTime: text('check_in_time').notNull().default('15:00'),
  checkOutTime: text('check_out_time').notNull().default('11:00'),
  /** Minutes before arrival by which every lock must have confirmed the incoming code. */
  confirmLeadMinutes: integer('confirm_lead_minutes').notNull().default(120),
  feedCheckedAt: ts('feed_checked_at'),
  feedError: text('feed_error'),
  updatedAt: ts('updated_at').notNull(),
});

/** A stay in a unit: a guest between check-in and check-out, typed by hand or read from the feed. */
export const stays = pgTable(
  'stays',
  {
    id: uuid('id').primaryKey(),
    locationId: uuid('location_id').notNull().references(() => locations.id, { onDelete: 'cascade' }),
    source: text('source').$type<'manual' | 'ical'>().notNull(),
    /** The feed's UID for the booking (ical stays only). */
    externalUid: text('external_uid'),
    guestName: text('guest_name').notNull(),
    guestEmail: text('guest_email'),
    guestPhone: text('guest_phone'),
    checkIn: ts('check_in').notNull(),
    checkOut: ts('check_out').notNull(),
    status: text('status').$type<'active' | 'cancelled'>().notNull(),
    /** When the incoming code was sent to the guest (once per stay). */
    codeSentAt: ts('code_sent_at'),
    createdBy: text('created_by').notNull(),
    createdAt: ts('created_at').notNull(),
    updatedAt: ts('updated_at').notNull(),
  },
  (t) => [
    index('stays_location_idx').on(t.locationId, t.checkIn),
    uniqueIndex('stays_feed_uid_idx').on(t.locationId, t.externalUid).where(sql`${t.externalUid} is not null`),
    check('stays_times_check', sql`${t.checkOut} > ${t.checkIn}`),
    check('stays_status_check', sql`${t.status} in ('active','cancelled')`),
  ],
);

/** A stay's code on one lock of its unit: the credential that carries it, or why none could be made. */
export const stayCodes = pgTable(
  'stay_codes',
  {
    stayId: uuid('stay_id').notNull().references(() => stays.id, { onDelete: 'cascade' }),
    lockId: uuid('lock_id').notNull().references(() => locks.id, { onDelete: 'cascade' }),
    credentialId: uuid('credential_id').references(() => credentials.id, { onDelete: 'set null' }),
    error: text('error'),
    issuedAt: ts('issued_at').notNull(),
    revokedAt: ts('revoked_at'),
    alertedAt: ts('alerted_at'),
  },
  (t) => [primaryKey({ columns: [t.stayId, t.lockId] })],
);

/**
 * Practice runs of a handbook entry's procedure on a throwaway virtual twin of its model (never a
 * lock of the inventory): who practised, when, and whether the twin reached setup mode; `attempts`
 * holds every reset attempt made at the twin's panel (refusals in words), in order.
 */
export const practiceRuns = pgTable(
  'practice_runs',
  {
    id: uuid('id').primaryKey(),
    entryId: uuid('entry_id').notNull().references(() => handbookEntries.id, { onDelete: 'cascade' }),
    /** The entry's revision practised. */
    revision: integer('revision').notNull(),
    actorId: text('actor_id').notNull(),
    actorLabel: text('actor_label').notNull(),
    startedAt: ts('started_at').notNull(),
    expiresAt: ts('expires_at').notNull(),
    finishedAt: ts('finished_at'),
    /** Null while running (or when it expired unfinished). */
    passed: boolean('passed'),
    attempts: jsonb('attempts').$type<{ at: string; ok: boolean; reason: string | null; heldSeconds: number; words: string }[]>().notNull().default([]),
  },
  (t) => [index('practice_runs_entry_idx').on(t.entryId, t.startedAt)],
);
