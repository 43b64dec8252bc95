/**
 * Catalogue models and simulator specs for driver tests, built from the family defaults so they are
 * what a user would get from the model form.
 */
import { familyDefaults, type LockFamily, type LockModel, type LockModelCreate } from '../../src/domain/lock-models.js';
import { specFromModel, type VirtualLockSpec } from '../../src/drivers/simulator/index.js';

/** A catalogue model of `family`, with `overrides` on top of the family defaults. */
export function testModel(family: LockFamily, overrides: Partial<LockModelCreate> = {}): LockModel {
  const at = new Date('2026-01-01T00:00:00Z');
  return {
    id: `model-${family}`,
    manufacturer: 'Acme',
    modelNumber: `${family.toUpperCase()}-1`,
    name: '',
    ...familyDefaults(family),
    ...overrides,
    isDemo: false,
    createdAt: at,
    updatedAt: at,
  };
}

/** A simulator spec for one device of `family` on hub `hub-a`. */
export function testSpec(externalId: string, family: LockFamily, overrides: Partial<LockModelCreate> = {}, battery: number | null = 90): VirtualLockSpec {
  return specFromModel({ externalId, hub: 'hub-a', model: testModel(family, overrides), firmware: '1.2.3', batteryPercent: battery });
}

/** A deadbolt that does everything remotely, including a factory reset. */
export function fullDeadbolt(externalId: string): VirtualLockSpec {
  const base = familyDefaults('electronic_deadbolt');
  return testSpec(externalId, 'electronic_deadbolt', { capabilities: { ...base.capabilities, remoteReset: true } });
}
