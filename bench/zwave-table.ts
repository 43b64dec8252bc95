/**
 * `npm run bench -- zwave-table`: the Z-Wave driver on a 250-slot lock behind a slow radio (150 ms
 * before every answer), against the real stack the tests use (a ZwavejsServer on zwave-js's
 * MockController, the mock lock with a response delay). Measures one PIN write (frames the lock
 * received, wall time), a full `readCredentials` (wall time against the radio-bound 250 x 150 ms,
 * any timeout) and the load average around it (the machine is shared).
 */
import { loadavg } from 'node:os';
import { createZwaveDriver } from '../src/drivers/zwave/index.js';
import { startZwavePeer } from '../test/drivers/zwave-peer.js';

/** What one run measured. */
export interface ZwaveTableResult {
  benchmark: 'zwave-table';
  slots: number;
  frameMs: number;
  /** Commands the lock received for one setPin (after capabilities were learnt). */
  writeFrames: string[];
  writeMs: number;
  readMs: number;
  /** The radio-bound lower limit: slots x frame time. */
  readIdealMs: number;
  readError: string | null;
  pinsRead: number;
  loadavgBefore: number[];
  loadavgAfter: number[];
}

/** Boots the peer with `slots` slots and `frameMs` per answer, writes one PIN and reads the whole table once. */
export async function runZwaveTable(opts: { slots?: number; frameMs?: number } = {}): Promise<ZwaveTableResult> {
  const slots = opts.slots ?? 250;
  const frameMs = opts.frameMs ?? 150;
  const load = () => loadavg().map((x) => Math.round(x * 100) / 100);
  const loadavgBefore = load();
  const peer = await startZwavePeer({ slots, responseDelayMs: frameMs });
  const driver = createZwaveDriver({ url: peer.url, hubKey: 'bench' });
  try {
    await driver.connect();
    await driver.capabilities('bench:2');
    peer.received.length = 0;
    let t = performance.now();
    await driver.setPin('bench:2', { slot: 7, code: '482915', name: 'bench', schedule: { kind: 'always' } });
    const writeMs = performance.now() - t;
    const writeFrames = [...peer.received];
    t = performance.now();
    let readError: string | null = null;
    let pinsRead = 0;
    try {
      pinsRead = (await driver.readCredentials('bench:2')).pins.length;
    } catch (e) {
      readError = e instanceof Error ? e.message : String(e);
    }
    const readMs = performance.now() - t;
    return { benchmark: 'zwave-table', slots, frameMs, writeFrames, writeMs: Math.round(writeMs), readMs: Math.round(readMs), readIdealMs: slots * frameMs, readError, pinsRead, loadavgBefore, loadavgAfter: load() };
  } finally {
    await driver.close();
    await peer.close();
  }
}
