/**
 * Run by matter-udp.test.ts inside a network namespace of its own (loopback only, multicast on):
 * a virtual matter.js lock and lockwarden's Matter driver over real UDP and real mDNS on `lo`.
 * Prints one JSON line with what it saw; never run outside such a namespace.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Environment, Logger, LogLevel, ServerNode, StorageService, Time } from '@matter/main';
import { DoorLockServer } from '@matter/main/behaviors';
import { DoorLock } from '@matter/main/clusters';
import { DoorLockDevice } from '@matter/main/devices';
import { ManualPairingCodeCodec } from '@matter/main/types';
import { closeNode, createMatterDriver } from '../../src/drivers/matter/driver.js';

Logger.level = process.env.MLOG ? LogLevel.INFO : LogLevel.ERROR;
const bootStarted = performance.now();
const folder = await mkdtemp(path.join(tmpdir(), 'lockwarden-matter-udp-'));
Environment.default.vars.set('storage.path', folder);
const passcode = 20202021;
const discriminator = 3841;
const device = await ServerNode.create({
  id: 'udp-lock',
  network: { port: 5540 },
  commissioning: { passcode, discriminator },
  productDescription: { name: 'UDP lock', deviceType: DoorLockDevice.deviceType },
} as Parameters<typeof ServerNode.create>[0]);
await device.add(DoorLockDevice.with(DoorLockServer.with(DoorLock.Feature.User, DoorLock.Feature.PinCredential)), {
  id: 'door',
  doorLock: { lockState: DoorLock.LockState.Locked, lockType: DoorLock.LockType.DeadBolt, actuatorEnabled: true, operatingMode: DoorLock.OperatingMode.Normal, wrongCodeEntryLimit: 5, userCodeTemporaryDisableTime: 60, numberOfTotalUsersSupported: 10, numberOfPinUsersSupported: 10, minPinCodeLength: 4, maxPinCodeLength: 8, credentialRulesSupport: { single: true }, numberOfCredentialsSupportedPerUser: 1 },
} as never);
await device.start();
const driver = createMatterDriver({ storagePath: folder, hubKey: 'udp', port: 5541, timeoutMs: 5_000, commissionTimeoutMs: 20_000 });
const out: Record<string, unknown> = { bootMs: Math.round(performance.now() - bootStarted) };
try {
  let t = performance.now();
  const id = await driver.commission(ManualPairingCodeCodec.encode({ discriminator, passcode }));
  out.commissionMs = Math.round(performance.now() - t);
  t = performance.now();
  await driver.setPin(id, { slot: 2, code: '246810', name: 'udp', schedule: { kind: 'always' } });
  out.setMs = Math.round(performance.now() - t);
  const step = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const s = performance.now();
    const r = await f();
    (out.stepsMs as Record<string, number>)[name] = Math.round(performance.now() - s);
    return r;
  };
  out.stepsMs = {};
  out.pins = (await step('read', () => driver.readCredentials(id))).pins.map((p) => p.slot);
  await step('clear', () => driver.clearPin(id, 2));
  out.after = (await step('read2', () => driver.readCredentials(id))).pins.map((p) => p.slot);
  await step('unlock', () => driver.unlock(id));
  out.bolt = (await step('status', () => driver.status(id))).bolt;
  out.storage = Environment.default.get(StorageService).location;
} catch (e) {
  out.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
process.stdout.write(`RESULT ${JSON.stringify(out)}\n`);
// The namespace dies with this process; closing is bounded so a slow matter.js shutdown cannot hold the test.
const closing = (async () => {
  await driver.close();
  await closeNode(device, Environment.default);
  for (const timer of [...Time.timers]) timer.stop();
})();
await Promise.race([closing.catch(() => {}), new Promise((r) => setTimeout(r, 2_000))]);
await rm(folder, { recursive: true, force: true });
process.exit(0);
