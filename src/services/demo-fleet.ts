/**
 * The demo fleet loaded on a first start: two sites (one residential, one commercial), their
 * buildings, floors, units and doors, ~40 simulated locks across every model family. Every row is
 * marked `isDemo` so the UI can say so and an operator can tell it from real data.
 */
import type { Actor } from '../domain/identity.js';
import { familyDefaults, type LockFamily, type LockModelCreate } from '../domain/lock-models.js';
import type { LocationKind, Reading } from '../domain/locations.js';
import type { ServiceState } from '../domain/locks.js';
import { MetaRepository } from '../store/meta-repository.js';
import type { ServiceContext } from './context.js';
import { LocationService } from './location-service.js';
import { LockModelService } from './lock-model-service.js';
import { LockService } from './lock-service.js';
import { HandbookService } from './handbook-service.js';
import { HandbookRepository } from '../store/handbook-repository.js';
import { lockModels } from '../store/schema.js';
import { eq } from 'drizzle-orm';

const DEMO: Actor = { kind: 'system', name: 'demo-loader' };

type ModelKey = 'db100' | 'db220' | 'kp50' | 'kp80' | 'cb1' | 'cb2' | 'fp300' | 'sc10' | 'cab4';

function model(manufacturer: string, modelNumber: string, name: string, family: LockFamily, tweak: Partial<LockModelCreate> = {}): LockModelCreate {
  return { manufacturer, modelNumber, name, ...familyDefaults(family), ...tweak };
}

const MODELS: Record<ModelKey, LockModelCreate> = {
  db100: model('Demo Hardware Co', 'DB-100', 'Touch deadbolt', 'electronic_deadbolt', {
    gating: { button: 'interior reset button under the battery cover', holdSeconds: 12, batteryMinPercent: 25, needsLockOffDoor: false },
  }),
  db220: model('Demo Hardware Co', 'DB-220W', 'Wi-Fi deadbolt', 'electronic_deadbolt', {
    resetBehaviour: 'local_only_keeps_cloud',
    credentialStorage: 'cloud',
    capabilities: { pinSlots: 250, pinLengthMin: 4, pinLengthMax: 8, schedules: true, digitalKeys: true, fingerprints: false, remoteLockUnlock: true, remoteReset: false },
  }),
  kp50: model('Keystone Demo', 'KP-50', 'Keypad lever', 'keypad_entry'),
  kp80: model('Keystone Demo', 'KP-80C', 'Commercial keypad', 'keypad_entry', {
    resetBehaviour: 'split',
    credentialStorage: 'split',
    gating: { button: 'programming key', buttonSequence: '* + master code + # then 9 9 #', holdSeconds: 0, batteryMinPercent: 30, needsLockOffDoor: false },
  }),
  cb1: model('Cloudbolt Demo', 'CB-1', 'App lock', 'app_controlled'),
  cb2: model('Cloudbolt Demo', 'CB-2 Pro', 'App lock with keypad', 'app_controlled', {
    capabilities: { pinSlots: 50, pinLengthMin: 6, pinLengthMax: 8, schedules: true, digitalKeys: true, fingerprints: false, remoteLockUnlock: true, remoteReset: true },
  }),
  fp300: model('Fingerline Demo', 'FP-300', 'Fingerprint deadbolt', 'biometric'),
  sc10: model('Vaultline Demo', 'SC-10', 'In-room safe', 'safe_cabinet'),
  cab4: model('Vaultline Demo', 'CAB-4', 'Cabinet lock', 'safe_cabinet', {
    capabilities: { pinSlots: 4, pinLengthMin: 4, pinLengthMax: 6, schedules: false, digitalKeys: false, fingerprints: false, remoteLockUnlock: false, remoteReset: false },
    gating: { button: 'reset pinhole on the back plate', holdSeconds: 5, batteryMinPercent: 20, needsLockOffDoor: true },
  }),
};

interface Node {
  kind: LocationKind;
  name: string;
  attributes?: Record<string, string>;
  locks?: [name: string, model: ModelKey][];
  children?: Node[];
}

const door = (name: string, m: ModelKey, lockName = name): Node => ({ kind: 'door', name, locks: [[lockName, m]] });

function apartments(building: string, floors: number, unitsPerFloor: number, models: ModelKey[], extras: Record<string, [string, ModelKey]> = {}): Node[] {
  const out: Node[] = [];
  let i = 0;
  for (let f = 1; f <= floors; f++) {
    const units: Node[] = [];
    for (let u = 1; u <= unitsPerFloor; u++) {
      const unit = `${building}${f}0${u}`;
      const doors = [door('Front door', models[i++ % models.length]!, `Unit ${unit} front door`)];
      const extra = extras[unit];
      if (extra) doors.push(door(extra[0], extra[1], `Unit ${unit} ${extra[0].toLowerCase()}`));
      units.push({ kind: 'unit', name: `Unit ${unit}`, attributes: { room: unit }, children: doors });
    }
    out.push({ kind: 'floor', name: `Floor ${f}`, children: units });
  }
  return out;
}

const SITES: (Node & { reading: Reading })[] = [
  {
    kind: 'site',
    name: 'Harbour View Apartments',
    reading: 'residential',
    children: [
      {
        kind: 'building',
        name: 'Building A',
        children: [
          door('Main entrance', 'kp80', 'Building A main entrance'),
          ...apartments('A', 3, 3, ['db100', 'kp50', 'db220', 'cb1'], { A101: ['Patio door', 'db100'], A203: ['In-room safe', 'sc10'], A302: ['Patio door', 'cb2'] }),
        ],
      },
      {
        kind: 'building',
        name: 'Building B',
        children: [
          door('Bike room', 'kp50', 'Building B bike room'),
          door('Mail room', 'kp80', 'Building B mail room'),
          ...apartments('B', 2, 4, ['cb2', 'db220', 'kp50', 'db100']),
        ],
      },
    ],
  },
  {
    kind: 'site',
    name: 'Northgate Offices',
    reading: 'commercial',
    children: [
      {
        kind: 'building',
        name: 'Main building',
        children: [
          door('Lobby', 'kp80', 'Main lobby doors'),
          {
            kind: 'floor',
            name: 'Ground floor',
            children: [
              { kind: 'unit', name: 'Reception', attributes: { department: 'Facilities', accessLevel: 'public', securityZone: 'Z1' }, children: [door('Visitor door', 'cb2', 'Reception visitor door'), door('Staff door', 'kp50', 'Reception staff door')] },
              { kind: 'unit', name: 'Loading dock', attributes: { department: 'Facilities', accessLevel: 'staff', securityZone: 'Z2' }, children: [door('Dock door', 'db100', 'Loading dock door')] },
            ],
          },
          {
            kind: 'floor',
            name: 'Level 2',
            children: [
              { kind: 'unit', name: 'Finance', attributes: { department: 'Finance', accessLevel: 'restricted', securityZone: 'Z3' }, children: [door('Finance entry', 'fp300', 'Finance entry'), door('Records room', 'kp80', 'Finance records room'), door('Cash safe', 'sc10', 'Finance cash safe')] },
              { kind: 'unit', name: 'Server room', attributes: { department: 'IT', accessLevel: 'high security', securityZone: 'Z4' }, children: [door('Server room door', 'fp300', 'Server room door'), door('Rack cabinet 1', 'cab4', 'Rack cabinet 1'), door('Rack cabinet 2', 'cab4', 'Rack cabinet 2')] },
              { kind: 'unit', name: 'Executive suite', attributes: { department: 'Management', accessLevel: 'restricted', securityZone: 'Z3' }, children: [door('Suite entry', 'fp300', 'Executive suite entry'), door('Boardroom', 'cb1', 'Boardroom door'), door('Executive safe', 'sc10', 'Executive safe')] },
              { kind: 'unit', name: 'HR', attributes: { department: 'Human Resources', accessLevel: 'restricted', securityZone: 'Z3' }, children: [door('HR office', 'db220', 'HR office door'), door('Personnel files', 'cab4', 'Personnel files cabinet')] },
            ],
          },
        ],
      },
      {
        kind: 'building',
        name: 'Annex',
        children: [
          { kind: 'unit', name: 'Storage', attributes: { department: 'Facilities', accessLevel: 'staff', securityZone: 'Z2' }, children: [door('Storage door', 'kp50', 'Annex storage door'), door('Tool cage', 'cab4', 'Annex tool cage')] },
        ],
      },
    ],
  },
];

/** Deterministic variety so the demo looks lived-in yet is the same on every machine. */
function variety(i: number): { battery: number; state: ServiceState; firmware: string; installedOn: string } {
  const battery = [92, 81, 67, 55, 100, 43, 18, 74, 88, 9, 61, 96][i % 12]!;
  const state: ServiceState = i % 17 === 6 ? 'setup_mode' : battery < 20 || i % 13 === 4 ? 'needs_attention' : 'in_service';
  const month = String((i % 12) + 1).padStart(2, '0');
  return { battery, state, firmware: `${1 + (i % 3)}.${i % 7}.${(i * 3) % 10}`, installedOn: `${2021 + (i % 4)}-${month}-${String((i % 27) + 1).padStart(2, '0')}` };
}

export interface DemoSummary {
  models: number;
  locations: number;
  locks: number;
}

/** Loads the demo fleet once; a second call finds it loaded and does nothing. */
export async function loadDemoFleet(ctx: ServiceContext): Promise<DemoSummary | null> {
  const meta = new MetaRepository(ctx.db);
  if (await meta.get('demo.loadedAt')) return null;
  const modelService = new LockModelService(ctx);
  const locationService = new LocationService(ctx);
  const lockService = new LockService(ctx);
  const modelIds = {} as Record<ModelKey, string>;
  for (const [key, m] of Object.entries(MODELS) as [ModelKey, LockModelCreate][]) {
    modelIds[key] = (await modelService.create(DEMO, m, { isDemo: true })).id;
  }
  const org = await locationService.create(DEMO, { parentId: null, kind: 'organisation', name: 'Demo Property Group', reading: 'residential' }, { isDemo: true });
  let locations = 1;
  let lockIndex = 0;
  const place = async (node: Node, parentId: string, reading?: Reading): Promise<void> => {
    const loc = await locationService.create(DEMO, { parentId, kind: node.kind, name: node.name, reading, attributes: node.attributes ?? {} }, { isDemo: true });
    locations++;
    for (const [name, key] of node.locks ?? []) {
      const v = variety(lockIndex++);
      await lockService.create(
        DEMO,
        {
          name,
          modelId: modelIds[key],
          locationId: loc.id,
          serial: `DEMO-${key.toUpperCase()}-${String(1000 + lockIndex)}`,
          firmware: v.firmware,
          installedOn: v.installedOn,
          driver: 'simulator',
          externalId: `sim-${String(lockIndex).padStart(4, '0')}`,
          batteryPercent: v.battery,
          serviceState: v.state,
          notes: 'Demo lock, reached through the built-in simulator.',
        },
        { isDemo: true },
      );
    }
    for (const child of node.children ?? []) await place(child, loc.id);
  };
  for (const site of SITES) await place(site, org.id, site.reading);
  await meta.set('demo.loadedAt', ctx.clock.now().toISOString(), ctx.clock.now());
  await loadStarterHandbook(ctx);
  return { models: Object.keys(MODELS).length, locations, locks: lockIndex };
}

/** Whether this instance carries the demo fleet. */
export async function demoLoaded(ctx: ServiceContext): Promise<boolean> {
  return (await new MetaRepository(ctx.db).get('demo.loadedAt')) !== null;
}

/**
 * The starter catalogue: each demo model without a handbook entry gets its family's generic procedure
 * (marked generic, to confirm against the manufacturer's). Runs once per instance, also on instances
 * whose demo was loaded before the handbook existed; returns how many entries it wrote.
 */
export async function loadStarterHandbook(ctx: ServiceContext): Promise<number> {
  const meta = new MetaRepository(ctx.db);
  if (await meta.get('handbook.starterLoadedAt')) return 0;
  const handbook = new HandbookService(ctx);
  const repo = new HandbookRepository(ctx.db);
  let n = 0;
  for (const m of await ctx.db.select({ id: lockModels.id }).from(lockModels).where(eq(lockModels.isDemo, true))) {
    if (await repo.forModel(m.id)) continue;
    await handbook.applyTemplate(DEMO, { modelId: m.id, reason: 'starter catalogue: generic procedure for this family' }, { isDemo: true });
    n++;
  }
  await meta.set('handbook.starterLoadedAt', ctx.clock.now().toISOString(), ctx.clock.now());
  return n;
}
