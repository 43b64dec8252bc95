/**
 * Round trips of the cloud and MQTT drivers against their peers on this machine: set, read and
 * clear one PIN, `rounds` times each, with the Seam driver against Seam's fake (HTTP on
 * 127.0.0.1) and the Zigbee2MQTT driver against an aedes broker and the simulated bridge running
 * the real converters. The peers answer at once: these figures are lockwarden's and the
 * protocol stack's own cost, not a real cloud's or a real Zigbee radio's.
 */
import { createSeamDriver } from '../src/drivers/seam/index.js';
import { createZigbee2MqttDriver } from '../src/drivers/zigbee2mqtt/index.js';
import type { LockDriver } from '../src/drivers/contract.js';
import { SEAM_DEVICES, startFakeSeam } from '../test/drivers/seam-peer.js';
import { startZigbee2MqttPeer } from '../test/drivers/z2m-peer.js';

/** Percentiles of one operation, in milliseconds. */
export interface OpFigures {
  n: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
}

/** One peer's figures. */
export interface DriverPeerFigures {
  peer: string;
  setupMs: number;
  set: OpFigures;
  read: OpFigures;
  clear: OpFigures;
  note: string;
}

/** What `npm run bench -- drivers` writes. */
export interface DriversResult {
  benchmark: 'drivers';
  rounds: number;
  peers: DriverPeerFigures[];
}

async function measure(driver: LockDriver, externalId: string, rounds: number): Promise<{ set: number[]; read: number[]; clear: number[] }> {
  const out = { set: [] as number[], read: [] as number[], clear: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    const code = String(4000 + i).padStart(6, '1');
    let t = performance.now();
    await driver.setPin(externalId, { slot: 1, code, name: 'bench', schedule: { kind: 'always' } });
    out.set.push(performance.now() - t);
    t = performance.now();
    const pins = (await driver.readCredentials(externalId)).pins;
    out.read.push(performance.now() - t);
    if (!pins.some((p) => p.slot === 1)) throw new Error('the PIN written was not read back');
    t = performance.now();
    await driver.clearPin(externalId, 1);
    out.clear.push(performance.now() - t);
  }
  return out;
}

function figures(ms: number[]): OpFigures {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 10) / 10;
  return { n: s.length, p50Ms: at(0.5), p95Ms: at(0.95), maxMs: at(1) };
}

/** Runs both peers. Seam's per-device limits (10 creates/min) are lifted for the bench only. */
export async function runDriverLatency(opts: { rounds: number }): Promise<DriversResult> {
  const peers: DriverPeerFigures[] = [];
  {
    const t0 = performance.now();
    const seam = await startFakeSeam();
    const setupMs = performance.now() - t0;
    // The bench writes far more than Seam allows per device per minute; the fake does not throttle.
    const lifted = 1_000_000;
    const driver = createSeamDriver({ apiKey: seam.apiKey, endpoint: seam.url, rateLimits: { create: lifted, update: lifted, delete: lifted, lock: lifted } });
    const r = await measure(driver, SEAM_DEVICES.yale, opts.rounds);
    await driver.close();
    await seam.close();
    peers.push({ peer: 'seam (fake-seam-connect, HTTP)', setupMs: Math.round(setupMs), set: figures(r.set), read: figures(r.read), clear: figures(r.clear), note: 'set = device + 2 code lists + create; read = device + 2 lists; clear = device + 2 lists + delete' });
  }
  {
    const t0 = performance.now();
    const peer = await startZigbee2MqttPeer();
    const driver = createZigbee2MqttDriver({ url: peer.url, username: peer.username, password: peer.password, slots: 30 });
    await driver.discover();
    const setupMs = performance.now() - t0;
    const r = await measure(driver, peer.lock('front door').ieee, opts.rounds);
    await driver.close();
    await peer.close();
    peers.push({ peer: 'zigbee2mqtt (aedes + converters, 30 slots)', setupMs: Math.round(setupMs), set: figures(r.set), read: figures(r.read), clear: figures(r.clear), note: 'set/clear = set + get of one user; read = 30 user gets' });
  }
  return { benchmark: 'drivers', rounds: opts.rounds, peers };
}
