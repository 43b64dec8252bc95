import { z } from 'zod';

/** Lock families named in the brief. */
export const LOCK_FAMILIES = [
  'electronic_deadbolt',
  'keypad_entry',
  'app_controlled',
  'biometric',
  'safe_cabinet',
] as const;
export type LockFamily = (typeof LOCK_FAMILIES)[number];

export const FAMILY_LABELS: Record<LockFamily, string> = {
  electronic_deadbolt: 'Electronic deadbolt',
  keypad_entry: 'Keypad entry',
  app_controlled: 'App-controlled',
  biometric: 'Biometric',
  safe_cabinet: 'Safe / cabinet',
};

/**
 * How a factory reset behaves (seed 000): a local-only erase that keeps the cloud binding until it is
 * removed on the account side; a full erase of local trust anchors forcing re-enrollment; or split
 * storage where part of the credentials live on a controller or cloud.
 */
export const RESET_BEHAVIOURS = ['local_only_keeps_cloud', 'full_trust_anchor_erase', 'split'] as const;
export type ResetBehaviour = (typeof RESET_BEHAVIOURS)[number];

export const RESET_BEHAVIOUR_LABELS: Record<ResetBehaviour, string> = {
  local_only_keeps_cloud: 'Local erase; cloud binding kept until removed on the account',
  full_trust_anchor_erase: 'Full erase of local trust anchors; re-enrollment required',
  split: 'Split storage; lock and controller/cloud each hold part',
};

/** Where a lock's credentials live. */
export const CREDENTIAL_STORAGE = ['local', 'cloud', 'split'] as const;
export type CredentialStorage = (typeof CREDENTIAL_STORAGE)[number];

/** What credentials a model can hold: data that drivers and the UI check before acting. */
export const CapabilitiesSchema = z
  .object({
    pinSlots: z.number().int().min(0).max(10000),
    pinLengthMin: z.number().int().min(0).max(16),
    pinLengthMax: z.number().int().min(0).max(16),
    schedules: z.boolean(),
    digitalKeys: z.boolean(),
    fingerprints: z.boolean(),
    remoteLockUnlock: z.boolean(),
    remoteReset: z.boolean(),
  })
  .strict()
  .refine((c) => c.pinLengthMin <= c.pinLengthMax, {
    message: 'pinLengthMin must not exceed pinLengthMax',
    path: ['pinLengthMin'],
  })
  .refine((c) => c.pinSlots === 0 || c.pinLengthMin >= 4, {
    message: 'a model with PIN slots needs PINs of at least 4 digits',
    path: ['pinLengthMin'],
  });
export type Capabilities = z.infer<typeof CapabilitiesSchema>;

/** What a factory reset physically requires: the anti-tamper gating of seed 000. */
export const GatingSchema = z
  .object({
    button: z.string().trim().min(1, 'name the reset button or control').max(200),
    buttonSequence: z.string().trim().max(200).optional(),
    holdSeconds: z.number().int().min(0).max(600),
    batteryMinPercent: z.number().int().min(0).max(100),
    needsLockOffDoor: z.boolean(),
  })
  .strict();
export type Gating = z.infer<typeof GatingSchema>;

const ModelFields = {
  manufacturer: z.string().trim().min(1, 'manufacturer is required').max(120),
  modelNumber: z.string().trim().min(1, 'model number is required').max(120),
  name: z.string().trim().max(200).default(''),
  family: z.enum(LOCK_FAMILIES),
  capabilities: CapabilitiesSchema,
  resetBehaviour: z.enum(RESET_BEHAVIOURS),
  gating: GatingSchema,
  credentialStorage: z.enum(CREDENTIAL_STORAGE),
  mechanicalOverride: z.boolean(),
};

export const LockModelCreateSchema = z.object(ModelFields).strict();
export type LockModelCreate = z.infer<typeof LockModelCreateSchema>;

export const LockModelUpdateSchema = z
  .object({
    manufacturer: ModelFields.manufacturer.optional(),
    modelNumber: ModelFields.modelNumber.optional(),
    name: z.string().trim().max(200).optional(),
    family: ModelFields.family.optional(),
    capabilities: CapabilitiesSchema.optional(),
    resetBehaviour: ModelFields.resetBehaviour.optional(),
    gating: GatingSchema.optional(),
    credentialStorage: ModelFields.credentialStorage.optional(),
    mechanicalOverride: z.boolean().optional(),
  })
  .strict();
export type LockModelUpdate = z.infer<typeof LockModelUpdateSchema>;

/** A model in the catalogue. */
export interface LockModel extends LockModelCreate {
  id: string;
  isDemo: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** Sensible defaults for a new model of a family, so a form starts from something true-ish. */
export function familyDefaults(family: LockFamily): Omit<LockModelCreate, 'manufacturer' | 'modelNumber' | 'name'> {
  const base = {
    family,
    capabilities: {
      pinSlots: 30,
      pinLengthMin: 4,
      pinLengthMax: 8,
      schedules: true,
      digitalKeys: false,
      fingerprints: false,
      remoteLockUnlock: true,
      remoteReset: false,
    },
    resetBehaviour: 'full_trust_anchor_erase' as ResetBehaviour,
    gating: { button: 'interior reset button', holdSeconds: 10, batteryMinPercent: 20, needsLockOffDoor: false },
    credentialStorage: 'local' as CredentialStorage,
    mechanicalOverride: true,
  };
  switch (family) {
    case 'electronic_deadbolt':
      return base;
    case 'keypad_entry':
      return {
        ...base,
        capabilities: { ...base.capabilities, pinSlots: 100, remoteLockUnlock: false },
        gating: { ...base.gating, button: 'keypad programming key', buttonSequence: 'program + master code + #', holdSeconds: 0 },
      };
    case 'app_controlled':
      return {
        ...base,
        capabilities: { ...base.capabilities, pinSlots: 0, pinLengthMin: 0, pinLengthMax: 0, digitalKeys: true, remoteReset: true },
        resetBehaviour: 'local_only_keeps_cloud',
        gating: { ...base.gating, button: 'reset from the app settings', holdSeconds: 0 },
        credentialStorage: 'cloud',
        mechanicalOverride: false,
      };
    case 'biometric':
      return {
        ...base,
        capabilities: { ...base.capabilities, fingerprints: true, digitalKeys: true },
        resetBehaviour: 'split',
        credentialStorage: 'split',
      };
    case 'safe_cabinet':
      return {
        ...base,
        capabilities: { ...base.capabilities, pinSlots: 10, remoteLockUnlock: false, schedules: false },
        gating: { ...base.gating, button: 'reset button inside the door', holdSeconds: 5, needsLockOffDoor: true },
        mechanicalOverride: true,
      };
  }
}
