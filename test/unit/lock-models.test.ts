import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { familyDefaults, LOCK_FAMILIES, LockModelCreateSchema } from '../../src/domain/lock-models.js';
import { LockCreateSchema, LockFilterSchema } from '../../src/domain/locks.js';
import { parseInput } from '../../src/domain/validation.js';
import { AppError } from '../../src/domain/errors.js';

describe('lock models', () => {
  it('gives every family defaults that pass validation', () => {
    for (const family of LOCK_FAMILIES) {
      const r = LockModelCreateSchema.safeParse({ manufacturer: 'M', modelNumber: family, ...familyDefaults(family) });
      assert.equal(r.success, true, `${family}: ${JSON.stringify(r.error?.issues)}`);
    }
  });
  it('app-controlled locks keep the cloud binding through a local reset by default', () => {
    assert.equal(familyDefaults('app_controlled').resetBehaviour, 'local_only_keeps_cloud');
    assert.equal(familyDefaults('safe_cabinet').gating.needsLockOffDoor, true);
  });
  it('names nested fields in errors', () => {
    const base = { manufacturer: 'M', modelNumber: 'X', ...familyDefaults('keypad_entry') };
    try {
      parseInput(LockModelCreateSchema, { ...base, capabilities: { ...base.capabilities, pinLengthMin: 9, pinLengthMax: 6 }, gating: { ...base.gating, holdSeconds: -1 } });
      assert.fail('should throw');
    } catch (e) {
      assert.ok(e instanceof AppError);
      assert.equal(e.code, 'validation.failed');
      const paths = e.fields.map((f) => f.path);
      assert.ok(paths.includes('capabilities.pinLengthMin'), paths.join());
      assert.ok(paths.includes('gating.holdSeconds'), paths.join());
    }
  });
});

describe('lock input', () => {
  const ok = { name: 'Front', modelId: '7d1f1b4e-6d5c-4a53-9d0c-0c8f7f1f2a11', locationId: '7d1f1b4e-6d5c-4a53-9d0c-0c8f7f1f2a12' };
  it('accepts a minimal lock and fills defaults', () => {
    const v = LockCreateSchema.parse(ok);
    assert.equal(v.driver, 'simulator');
    assert.equal(v.serviceState, 'in_service');
    assert.equal(v.installedOn, null);
  });
  it('refuses impossible dates, batteries over 100 and hand-set retired state', () => {
    for (const [patch, field] of [
      [{ installedOn: '2026-02-30' }, 'installedOn'],
      [{ installedOn: '03/01/2026' }, 'installedOn'],
      [{ batteryPercent: 101 }, 'batteryPercent'],
      [{ serviceState: 'retired' }, 'serviceState'],
      [{ driver: 'bluetooth' }, 'driver'],
    ] as const) {
      const r = LockCreateSchema.safeParse({ ...ok, ...patch });
      assert.equal(r.success, false, JSON.stringify(patch));
      assert.equal(r.error?.issues[0]?.path.join('.'), field);
    }
  });
  it('parses list filters from a query string', () => {
    const f = LockFilterSchema.parse({ family: 'biometric, keypad_entry', state: 'needs_attention', limit: '25', offset: '50' });
    assert.deepEqual(f.family, ['biometric', 'keypad_entry']);
    assert.deepEqual(f.state, ['needs_attention']);
    assert.equal(f.limit, 25);
    assert.equal(f.offset, 50);
    assert.equal(LockFilterSchema.safeParse({ family: 'vault' }).success, false);
    assert.equal(LockFilterSchema.safeParse({ limit: '0' }).success, false);
  });
});
