/**
 * `node --import tsx bench/audit.ts [--entries N] [--batch B]`: audit log throughput on an in-memory
 * PGlite (or DATABASE_URL with --postgres): appends one per transaction, appends in batches of B per
 * transaction up to N entries, then a full verification of the N entries. Prints JSON.
 */
import { parseArgs } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import { systemClock } from '../src/domain/clock.js';
import { AuditMac, memoryCheckpointSigner } from '../src/crypto/audit-chain.js';
import { SecretBox, staticKeySource } from '../src/crypto/secret-box.js';
import { AuditLog, type AuditEvent } from '../src/services/audit-log.js';
import { openPostgres, PGLITE_EXTENSIONS, wrapPglite, type Db } from '../src/store/database.js';

const { values } = parseArgs({ options: { entries: { type: 'string', default: '100000' }, batch: { type: 'string', default: '500' }, postgres: { type: 'boolean', default: false } } });
const N = Number(values.entries);
const B = Number(values.batch);
const database = values.postgres ? await openPostgres(process.env.DATABASE_URL!) : await wrapPglite(new PGlite({ extensions: PGLITE_EXTENSIONS }));
const audit = new AuditLog({ db: database.db, clock: systemClock, mac: new AuditMac(new SecretBox(staticKeySource(Buffer.alloc(32, 1)))), signer: memoryCheckpointSigner(), checkpointsFile: null });
const event = (i: number): AuditEvent => ({
  actor: { kind: 'user', userId: '00000000-0000-4000-8000-000000000001', email: 'tech@example.test', via: 'session', grants: [] },
  action: 'credential.pin.add',
  target: { type: 'credential', id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, label: `Holder ${i} (slot ${i % 250}) on Unit ${i % 900}` },
  locationId: '00000000-0000-4000-8000-000000000002',
  details: { lockId: '00000000-0000-4000-8000-000000000003', slot: i % 250, holder: `Holder ${i}`, schedule: 'always', generated: true },
  secrets: { code: String(100000 + (i % 900000)) },
  client: { ip: '203.0.113.7', userAgent: 'Mozilla/5.0 bench' },
});

const single = 500;
let t = performance.now();
for (let i = 0; i < single; i++) await audit.record(database.db, event(i));
const singleRate = single / ((performance.now() - t) / 1000);

t = performance.now();
for (let i = single; i < N; i += B) {
  const n = Math.min(B, N - i);
  await database.db.transaction(async (tx) => void (await audit.appendMany(tx as unknown as Db, Array.from({ length: n }, (_, k) => event(i + k)))));
}
const batchRate = (N - single) / ((performance.now() - t) / 1000);
await audit.checkpoint();
t = performance.now();
const report = await audit.verify();
const verifyMs = performance.now() - t;
console.log(JSON.stringify({ engine: database.engine, entries: N, batch: B, singlePerSecond: Math.round(singleRate), batchedPerSecond: Math.round(batchRate), verifyMs: Math.round(verifyMs), verifyPerSecond: Math.round(N / (verifyMs / 1000)), ok: report.ok, rssMb: Math.round(process.memoryUsage().rss / 1e6) }));
await database.close();
