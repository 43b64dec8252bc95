/**
 * Audit log throughput on an in-memory PGlite (or DATABASE_URL, an empty database): appends one
 * event per transaction, then appends in transactions of `batch` up to `entries`, signs a
 * checkpoint, and verifies the whole log from genesis (`AuditLog.verify`, what `lockwarden audit
 * verify` runs). `node --import tsx bench/audit.ts [--entries N] [--batch B] [--postgres]` prints JSON;
 * `npm run bench -- audit` puts it in the table.
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { systemClock } from '../src/domain/clock.js';
import { AuditMac, chainKeyOf, memoryCheckpointSigner } from '../src/crypto/audit-chain.js';
import { SecretBox, staticKeySource } from '../src/crypto/secret-box.js';
import { AuditLog, type AuditEvent } from '../src/services/audit-log.js';
import { openPostgres, PGLITE_EXTENSIONS, wrapPglite, type Db } from '../src/store/database.js';

export interface AuditResult {
  benchmark: 'audit';
  engine: 'pglite' | 'postgres';
  entries: number;
  batch: number;
  singlePerSecond: number;
  batchedPerSecond: number;
  verifyMs: number;
  verifyPerSecond: number;
  /** Verification time scaled to 1M entries (the size) when fewer were run. */
  verify1MEstimateMs: number;
  verifyCpuMs: number;
  ok: boolean;
  rssMb: number;
}

const event = (i: number): AuditEvent => ({
  actor: { kind: 'user', userId: '00000000-0000-4000-8000-000000000001', email: 'tech@example.test', via: 'session', grants: [] },
  action: 'credential.pin.add',
  target: { type: 'credential', id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, label: `Holder ${i} (slot ${i % 250}) on Unit ${i % 900}` },
  locationId: '00000000-0000-4000-8000-000000000002',
  details: { lockId: '00000000-0000-4000-8000-000000000003', slot: i % 250, holder: `Holder ${i}`, schedule: 'always', generated: true },
  secrets: { code: String(100000 + (i % 900000)) },
  client: { ip: '203.0.113.7', userAgent: 'Mozilla/5.0 bench' },
});

/** Appends `entries` events and verifies them. */
export async function runAudit(opts: { entries: number; batch: number; databaseUrl?: string | undefined }): Promise<AuditResult> {
  const N = opts.entries;
  const B = opts.batch;
  const database = opts.databaseUrl ? await openPostgres(opts.databaseUrl) : await wrapPglite(new PGlite({ extensions: PGLITE_EXTENSIONS }));
  try {
    const secrets = new SecretBox(staticKeySource(Buffer.alloc(32, 1)));
    const audit = new AuditLog({ db: database.db, clock: systemClock, mac: new AuditMac(secrets), chainKey: chainKeyOf(secrets), signer: memoryCheckpointSigner(), checkpointsFile: null });
    const single = Math.min(500, N);
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
    const cpu = process.cpuUsage();
    t = performance.now();
    const report = await audit.verify();
    const verifyMs = performance.now() - t;
    const c = process.cpuUsage(cpu);
    return {
      benchmark: 'audit',
      engine: database.engine,
      entries: N,
      batch: B,
      singlePerSecond: Math.round(singleRate),
      batchedPerSecond: Math.round(batchRate),
      verifyMs: Math.round(verifyMs),
      verifyPerSecond: Math.round(N / (verifyMs / 1000)),
      verify1MEstimateMs: Math.round((verifyMs * 1_000_000) / N),
      verifyCpuMs: Math.round((c.user + c.system) / 1000),
      ok: report.ok,
      rssMb: Math.round(process.memoryUsage().rss / 1e6),
    };
  } finally {
    await database.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { entries: { type: 'string', default: '100000' }, batch: { type: 'string', default: '500' }, postgres: { type: 'boolean', default: false } } });
  console.log(JSON.stringify(await runAudit({ entries: Number(values.entries), batch: Number(values.batch), databaseUrl: values.postgres ? process.env.DATABASE_URL : undefined })));
}
