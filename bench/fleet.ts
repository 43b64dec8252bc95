/**
 * The fleet every turnover benchmark starts from (bench/turnover.ts in one process, bench/cluster.ts
 * across processes): one lock model, a site, N locks in hubs of `hubSize`, each holding two PINs that
 * lockwarden set and the lock confirmed. The database rows are written in batches; the simulated
 * devices are returned for the caller to provision when nothing is listening for their events.
 */
import type { SecretBox } from '../src/crypto/secret-box.js';
import type { Actor } from '../src/domain/identity.js';
import { specFromModel, type SimFleet } from '../src/drivers/simulator/index.js';
import type { Services } from '../src/services/index.js';
import type { Database } from '../src/store/database.js';
import { credentials, lockObservations, locks } from '../src/store/schema.js';

const SYSTEM: Actor = { kind: 'system', name: 'local-cli' };

/** What each simulated lock holds before the turnover: two PINs, confirmed. */
export const OLD_HOLDERS = ['Old tenant A', 'Old tenant B'] as const;

/** The change every turnover benchmark makes: revoke both old PINs and issue two new ones on every lock of the site. */
export function turnoverChange(siteId: string, description: string) {
  return { target: { locationId: siteId }, revoke: { holders: [...OLD_HOLDERS] }, add: [{ holder: 'New tenant A' }, { holder: 'New tenant B' }], description };
}

/** The seeded fleet: its site, and a call that puts the devices (with their PINs) into a simulator. */
export interface SeededFleet {
  siteId: string;
  provision(fleet: SimFleet): void;
}

/** Writes the model, the site and `locks` locks with two confirmed PINs each; `name` prefixes names and device ids. */
export async function seedTurnoverFleet(database: Database, services: Services, secrets: SecretBox, o: { locks: number; hubSize: number; name: string }): Promise<SeededFleet> {
  const model = await services.models.create(SYSTEM, {
    manufacturer: o.name,
    modelNumber: `${o.name.slice(0, 2).toUpperCase()}-1`,
    family: 'electronic_deadbolt',
    capabilities: { pinSlots: 30, pinLengthMin: 4, pinLengthMax: 8, schedules: true, digitalKeys: false, fingerprints: false, remoteLockUnlock: true, remoteReset: false },
    resetBehaviour: 'full_trust_anchor_erase',
    gating: { button: 'reset', holdSeconds: 10, batteryMinPercent: 20, needsLockOffDoor: false },
    credentialStorage: 'local',
    mechanicalOverride: true,
  });
  const org = await services.locations.create(SYSTEM, { parentId: null, kind: 'organisation', name: `${o.name} Org`, reading: 'residential' });
  const site = await services.locations.create(SYSTEM, { parentId: org.id, kind: 'site', name: `${o.name} Site`, reading: 'residential' });
  const prefix = o.name.toLowerCase();
  const now = new Date();
  const lockRows: (typeof locks.$inferInsert)[] = [];
  const credRows: (typeof credentials.$inferInsert)[] = [];
  const obsRows: (typeof lockObservations.$inferInsert)[] = [];
  const devices: { spec: ReturnType<typeof specFromModel>; pins: { slot: number; code: string; holder: string }[] }[] = [];
  for (let i = 0; i < o.locks; i++) {
    const id = crypto.randomUUID();
    const externalId = `${prefix}-${String(i).padStart(6, '0')}`;
    const hub = `${prefix}-hub-${Math.floor(i / o.hubSize)}`;
    const device: (typeof devices)[number] = { spec: specFromModel({ externalId, hub, model, firmware: '1.0', batteryPercent: 90 }), pins: [] };
    devices.push(device);
    lockRows.push({ id, name: `${o.name} lock ${i}`, modelId: model.id, locationId: site.id, driver: 'simulator', externalId, credentialStorage: 'local', mechanicalOverride: true, serviceState: 'in_service', version: 1, createdAt: now, updatedAt: now });
    const pins = [];
    for (const [slot, holder, code] of [[1, OLD_HOLDERS[0], `${1000 + (i % 8000)}07`], [2, OLD_HOLDERS[1], `${2000 + (i % 7000)}93`]] as const) {
      const cid = crypto.randomUUID();
      device.pins.push({ slot, code, holder });
      credRows.push({ id: cid, lockId: id, kind: 'pin', slot, holder, codeCipher: secrets.encrypt(code, `credential:${cid}`), codeMac: secrets.fingerprint(code, id), schedule: { kind: 'always' }, status: 'confirmed', origin: 'lockwarden', createdBy: prefix, createdAt: now, updatedAt: now, confirmedAt: now });
      pins.push({ slot, codeCipher: secrets.encrypt(code, `observation:${id}:${slot}`), fingerprint: secrets.fingerprint(code, id), name: holder, schedule: { kind: 'always' as const }, enabled: true });
    }
    obsRows.push({ lockId: id, readAt: now, pins, controllers: [], digitalKeys: [], biometrics: [], status: null, inDoubt: false, updatedAt: now });
  }
  for (let i = 0; i < lockRows.length; i += 1000) await database.db.insert(locks).values(lockRows.slice(i, i + 1000));
  for (let i = 0; i < credRows.length; i += 1000) await database.db.insert(credentials).values(credRows.slice(i, i + 1000));
  for (let i = 0; i < obsRows.length; i += 1000) await database.db.insert(lockObservations).values(obsRows.slice(i, i + 1000));
  return {
    siteId: site.id,
    provision: (fleet) => {
      for (const d of devices) {
        fleet.provision(d.spec);
        for (const p of d.pins) fleet.outOfBand.setPin(d.spec.externalId, p.slot, p.code, p.holder);
      }
    },
  };
}
