/**
 * `node --import tsx bench/drivers-zwave-matter.ts [--rounds N]` (not yet in `npm run bench`): round trips of the Z-Wave and Matter drivers
 * against their real stacks (the same peers as the tests: a ZwavejsServer on zwave-js's mock
 * controller; a virtual matter.js door lock over NetworkSimulator). Per round: set a PIN in slot 1,
 * read the credentials, clear slot 1. Z-Wave twice: a User Code node and a User Credential node (through
 * Z-Wave JS's access-control API). Matter's read includes the unfiltered fabric list. Prints medians and
 * p95 with the load average before and after (the machine is shared) and writes
 * bench-results/drivers-zwave-matter.json.
 */
import { cpus, loadavg } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Logger, LogLevel, Time } from '@matter/main';
import type { LockDriver } from '../src/drivers/contract.js';
import { createMatterDriver } from '../src/drivers/matter/index.js';
import { createZwaveDriver } from '../src/drivers/zwave/index.js';
import { startMatterPeer } from '../test/drivers/matter-peer.js';
import { startZwavePeer } from '../test/drivers/zwave-peer.js';

Logger.level = LogLevel.ERROR;
const { values } = parseArgs({ options: { rounds: { type: 'string', default: '30' } } });
const rounds = Number(values.rounds);

interface Figures {
  setup_ms: number;
  set_ms: { median: number; p95: number };
  read_ms: { median: number; p95: number };
  clear_ms: { median: number; p95: number };
}

function stats(xs: number[]): { median: number; p95: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 10) / 10;
  return { median: at(0.5), p95: at(0.95) };
}

async function roundTrips(driver: LockDriver, id: string, setupMs: number): Promise<Figures> {
  const set: number[] = [];
  const read: number[] = [];
  const clear: number[] = [];
  await driver.readCredentials(id); // first read fills caches; not a round trip we measure
  for (let i = 0; i < rounds; i++) {
    let t = performance.now();
    await driver.setPin(id, { slot: 1, code: String(4000 + i), name: 'bench', schedule: { kind: 'always' } });
    set.push(performance.now() - t);
    t = performance.now();
    const pins = (await driver.readCredentials(id)).pins;
    read.push(performance.now() - t);
    if (!pins.some((p) => p.slot === 1)) throw new Error('the PIN did not read back');
    t = performance.now();
    await driver.clearPin(id, 1);
    clear.push(performance.now() - t);
  }
  return { setup_ms: Math.round(setupMs), set_ms: stats(set), read_ms: stats(read), clear_ms: stats(clear) };
}

async function zwave(userCredential = false): Promise<Figures> {
  const t = performance.now();
  const peer = await startZwavePeer({ slots: 10, userCredential });
  const driver = createZwaveDriver({ url: peer.url, hubKey: 'bench' });
  await driver.connect();
  try {
    return await roundTrips(driver, 'bench:2', performance.now() - t);
  } finally {
    await driver.close();
    await peer.close();
  }
}

async function matter(): Promise<Figures> {
  const peer = await startMatterPeer();
  const driver = createMatterDriver({ environment: peer.controllerEnvironment, hubKey: 'bench' });
  const t = performance.now();
  const id = await driver.commission(peer.pairingCode);
  try {
    return await roundTrips(driver, id, performance.now() - t);
  } finally {
    await driver.close();
    await peer.close();
    for (const timer of [...Time.timers]) timer.stop();
  }
}

const load = (): number[] => loadavg().map((x) => Math.round(x * 100) / 100);
const loadBefore = load();
const results = { rounds, node: process.version, cpus: cpus().length, loadavg_before: loadBefore, zwave: await zwave(), zwave_user_credential: await zwave(true), matter: await matter(), loadavg_after: load() };
console.log(`load average (1, 5, 15 min) before ${results.loadavg_before.join(' ')}, after ${results.loadavg_after.join(' ')} on ${results.cpus} cores`);
console.table({
  'zwave (10 slots)': { setup_ms: results.zwave.setup_ms, set: results.zwave.set_ms.median, read: results.zwave.read_ms.median, clear: results.zwave.clear_ms.median, 'set p95': results.zwave.set_ms.p95, 'read p95': results.zwave.read_ms.p95, 'clear p95': results.zwave.clear_ms.p95 },
  'zwave User Credential (10)': { setup_ms: results.zwave_user_credential.setup_ms, set: results.zwave_user_credential.set_ms.median, read: results.zwave_user_credential.read_ms.median, clear: results.zwave_user_credential.clear_ms.median, 'set p95': results.zwave_user_credential.set_ms.p95, 'read p95': results.zwave_user_credential.read_ms.p95, 'clear p95': results.zwave_user_credential.clear_ms.p95 },
  'matter (10 users)': { setup_ms: results.matter.setup_ms, set: results.matter.set_ms.median, read: results.matter.read_ms.median, clear: results.matter.clear_ms.median, 'set p95': results.matter.set_ms.p95, 'read p95': results.matter.read_ms.p95, 'clear p95': results.matter.clear_ms.p95 },
});
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/drivers-zwave-matter.json', JSON.stringify(results, null, 2) + '\n');
