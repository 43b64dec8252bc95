/**
 * `lockwarden audit list|export|verify|checkpoint`: read and export the audit log, prove it was not
 * edited, reordered, truncated or thinned since the last signed checkpoint, and sign its head now.
 * Through the server's API when one owns the data folder, else on the folder itself.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { AUDIT_OUTCOMES, type AuditVerifyReport } from '../domain/audit.js';
import { parseWitnessTarget, readWitness } from '../services/audit-witness.js';
import { table, when } from './format.js';
import { print, withClient } from './shared.js';

/** The exit code of `audit verify` when the log fails verification. */
export const AUDIT_VERIFY_FAILED_EXIT = 7;

interface FilterFlags {
  actor?: string;
  action?: string;
  targetType?: string;
  target?: string;
  location?: string;
  outcome?: string;
  since?: string;
  until?: string;
}

const filterOf = (f: FilterFlags) => ({ actor: f.actor, action: f.action, targetType: f.targetType, targetId: f.target, locationId: f.location, outcome: f.outcome, from: f.since, to: f.until });

function withFilters(cmd: Command): Command {
  return cmd
    .option('--actor <who>', 'an actor id or email')
    .option('--action <action>', 'an action, or a prefix ending in "." (credential.)')
    .option('--target-type <type>', 'lock, credential, handbook_secret, user, ...')
    .option('--target <id>', 'the target id')
    .option('--location <id>', 'entries at this location or below it (id)')
    .addOption(new Option('--outcome <outcome>').choices(AUDIT_OUTCOMES))
    .option('--since <time>', 'ISO date or date-time')
    .option('--until <time>', 'ISO date or date-time');
}

/** A verification report as people read it. */
export function verifyText(r: AuditVerifyReport): string {
  const out = [
    r.ok ? `OK: ${r.entries} entries verified from genesis` : `FAILED: ${r.problemCount} problem(s) in ${r.entries} entries`,
    r.lastCheckpoint ? `verified up to signed checkpoint #${r.lastCheckpoint.seq} (${when(r.lastCheckpoint.at)})` : 'no verified checkpoint yet (run `lockwarden audit checkpoint`)',
    `${r.checkpoints} checkpoint(s) in the database${r.checkpointsFile ? `; file ${r.checkpointsFile}` : ''}; ${r.millis} ms`,
    r.keyedFrom === null ? 'the chain is not keyed yet' : `the chain is keyed with the deployment's secret from entry ${r.keyedFrom}`,
  ];
  if (r.witness) {
    out.push(
      r.witness.firstDisagreement === null
        ? `witness ${r.witness.source}: ${r.witness.checkpoints} checkpoint(s) up to #${r.witness.lastSeq}, all agree with the database`
        : `witness ${r.witness.source}: ${r.witness.checkpoints} checkpoint(s) up to #${r.witness.lastSeq}; the first disagreement is at entry ${r.witness.firstDisagreement}`,
    );
  }
  for (const p of r.problems) out.push(`  ${p.kind} at ${p.seq}: ${p.message}`);
  for (const n of r.notes) out.push(`  note: ${n}`);
  return out.join('\n');
}

export function addAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit log');

  withFilters(audit.command('list').description('audit entries, newest first'))
    .option('--limit <n>', 'how many (max 500)', '50')
    .option('--before <seq>', 'only entries before this seq (the next page)')
    .action(async (f: FilterFlags & { limit: string; before?: string }, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const page = await client.auditList({ ...filterOf(f), limit: f.limit, before: f.before });
        if (g.json) return print(JSON.stringify(page, null, 2));
        print(
          page.items.length === 0
            ? 'no audit entries'
            : table(
                ['seq', 'time', 'actor', 'action', 'outcome', 'target'],
                page.items.map((e) => [String(e.seq), when(e.at), e.actorLabel, e.action, e.outcome, e.targetLabel ?? e.targetId ?? '']),
              ),
        );
        if (page.nextCursor !== null) print(`\nolder entries: --before ${page.nextCursor}`);
      }),
    );

  withFilters(audit.command('export').description('export audit entries, oldest first, as CSV or JSON lines (secrets only as HMACs)'))
    .addOption(new Option('--format <format>').choices(['csv', 'jsonl']).default('jsonl'))
    .option('--out <file>', 'write to this file (default: standard output)')
    .action(async (f: FilterFlags & { format: 'csv' | 'jsonl'; out?: string }, cmd: Command) =>
      withClient(cmd, async (client) => {
        const data = await client.auditExport(filterOf(f), f.format);
        if (f.out) {
          writeFileSync(f.out, data, { mode: 0o600 });
          process.stderr.write(`wrote ${f.out}\n`);
        } else process.stdout.write(data);
      }),
    );

  audit
    .command('verify')
    .description(`recompute the chain from genesis and check every signed checkpoint (exit code ${AUDIT_VERIFY_FAILED_EXIT} when it fails)`)
    .option('--witness <file-or-url>', 'also compare against the outside witness checkpoints are sent to (LOCKWARDEN_AUDIT_WITNESS): its file, or its http(s) URL')
    .action(async (f: { witness?: string }, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        // The witness is read here, by whoever verifies, not by the server whose data it checks.
        const witness = f.witness ? await readWitness(parseWitnessTarget(f.witness)) : undefined;
        const report = await client.auditVerify(witness);
        print(g.json ? JSON.stringify(report, null, 2) : verifyText(report));
        if (!report.ok) process.exitCode = AUDIT_VERIFY_FAILED_EXIT;
      }),
    );

  audit
    .command('checkpoint')
    .description('sign the head of the log now (in the database and the checkpoint file)')
    .action(async (_f: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const r = await client.auditCheckpoint();
        if (g.json) return print(JSON.stringify(r, null, 2));
        if (!r.checkpoint) return print('the audit log is empty: nothing to sign');
        print(`${r.created ? 'signed' : 'already signed'} checkpoint #${r.checkpoint.seq} (${r.checkpoint.hash.slice(0, 16)}…, key ${r.checkpoint.keyId})${r.file ? `; file ${r.file}` : ''}${r.witness ? `; witness ${r.witness}` : ''}`);
        if (r.witnessError) {
          process.stderr.write(`warning: ${r.witnessError}; it is sent again with the next checkpoint\n`);
          process.exitCode = 1;
        }
      }),
    );
}
