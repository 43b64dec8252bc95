/**
 * `lockwarden handbook ...` and `lockwarden keys rotate`: read the reset handbook, search it, mark an
 * entry verified, list what needs re-verification, reveal a secret (with a reason, recorded), and
 * re-wrap the data keys under a new master key. Locally on the data folder or against the server.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { AppError } from '../domain/errors.js';
import { SECRET_KIND_LABELS, STEP_KIND_LABELS, WARNING_KINDS, type HandbookEntry, type HandbookEntrySummary } from '../domain/handbook.js';
import type { LockwardenClient } from './client.js';
import { table, when } from './format.js';
import { print, resolveLocation, withClient } from './shared.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const STATUS_WORDS: Record<HandbookEntrySummary['status'], string> = { current: 'verified', stale: 'STALE', never_verified: 'never verified' };

/** One line per entry: model, title, revision, verification. */
export function entryTable(items: HandbookEntrySummary[]): string {
  if (items.length === 0) return 'no handbook entries';
  return table(
    ['id', 'manufacturer', 'model', 'applies to', 'title', 'rev', 'verification'],
    items.map((e) => [e.id, e.manufacturer, e.modelNumber, e.lockName ?? 'every lock of the model', `${e.title}${e.generic ? ' (generic)' : ''}`, String(e.revision), `${STATUS_WORDS[e.status]}${e.verifiedAt ? ` ${when(e.verifiedAt)}` : ''}`]),
  );
}

/** An entry as a technician reads it: numbered steps, warnings first, secrets masked. */
export function entryDetail(e: HandbookEntry): string {
  const c = e.content;
  const out: string[] = [`${c.title}`, `${e.manufacturer} ${e.modelNumber}${e.lockName ? `, override for ${e.lockName}` : ''} — revision ${e.revision} (${when(e.lastRevision.createdAt)} by ${e.lastRevision.authorLabel}: ${e.lastRevision.reason})`];
  out.push(`verification: ${STATUS_WORDS[e.status]}${e.verifiedAt ? ` on ${when(e.verifiedAt)} by ${e.verifiedBy} at revision ${e.verifiedRevision}` : ''}; window ${e.verificationWindowDays} days${e.dueAt ? `, due ${when(e.dueAt)}` : ''}`);
  if (c.generic) out.push("GENERIC TEMPLATE: confirm against the manufacturer's instructions for this model");
  if (c.summary) out.push('', c.summary);
  if (c.estimatedMinutes) out.push('', `Estimated time: ${c.estimatedMinutes} min`);
  if (c.warnings.length) out.push('', 'Warnings:', ...c.warnings.map((w) => `  ! [${w.kind.replaceAll('_', ' ')}] ${w.text}`));
  if (c.tools.length) out.push('', 'Tools and materials:', ...c.tools.map((t) => `  - ${t}`));
  out.push('', 'Steps:');
  c.steps.forEach((s, i) => out.push(`  ${i + 1}. [${STEP_KIND_LABELS[s.kind]}${s.seconds ? ` ${s.seconds} s` : ''}] ${s.text}${s.sequence ? ` — enter: ${s.sequence}` : ''}`));
  if (c.resources.length) out.push('', 'Resources:', ...c.resources.map((r) => `  ${r.tier}: ${r.label}${r.url ? ` <${r.url}>` : ''}${r.phone ? ` tel. ${r.phone}` : ''}${r.hours ? ` (${r.hours})` : ''}`));
  if (c.contacts.length) out.push('', 'Key contacts:', ...c.contacts.map((k) => `  ${k.name}${k.role ? `, ${k.role}` : ''}${k.phone ? `, ${k.phone}` : ''}${k.email ? `, ${k.email}` : ''}`));
  if (e.secrets.length) out.push('', 'Secrets (reveal with `lockwarden handbook reveal <secretId> --reason ...`):', ...e.secrets.map((s) => `  ${s.id}  ${SECRET_KIND_LABELS[s.kind]}${s.label ? ` (${s.label})` : ''}: ${s.masked}`));
  return out.join('\n');
}

/** An entry named by its id, or by a model number ("KP-80C") for the model's own entry. */
async function resolveEntry(client: LockwardenClient, ref: string): Promise<string> {
  if (UUID.test(ref)) return ref;
  const wanted = ref.toLowerCase();
  const found = (await client.handbookList({})).filter((e) => e.lockId === null && (e.modelNumber.toLowerCase() === wanted || `${e.manufacturer} ${e.modelNumber}`.toLowerCase() === wanted));
  if (found.length === 1) return found[0]!.id;
  throw new AppError('handbook.not_found', `no handbook entry for "${ref}"; see \`lockwarden handbook list\``, [{ path: 'entry', message: 'not found' }]);
}

function positiveInt(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('use a whole number from 1');
  return n;
}

/** Adds `handbook` and `keys`. */
export function addHandbookCommands(program: Command): void {
  const hb = program.command('handbook').description(`the reset handbook (warning kinds: ${WARNING_KINDS.join(', ')})`);
  hb.command('list')
    .description('list entries by manufacturer and model')
    .option('--manufacturer <name>', 'only this manufacturer')
    .option('--site <id>', 'only overrides of locks at this site')
    .option('--status <status>', 'current, stale or never_verified')
    .action(async (f: { manufacturer?: string; site?: string; status?: string }, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const items = await client.handbookList({ manufacturer: f.manufacturer, siteId: f.site, status: f.status });
        print(g.json ? JSON.stringify(items, null, 2) : entryTable(items));
      }),
    );
  hb.command('show <entry>')
    .description('show an entry (id or model number); --lock shows the entry that applies to a lock')
    .option('--lock', 'treat <entry> as a lock id and show its effective entry')
    .action(async (ref: string, f: { lock?: boolean }, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        let entry: HandbookEntry | null;
        if (f.lock) {
          const out = await client.handbookForLock(ref);
          if (!out.entry) throw new AppError('handbook.not_found', 'no handbook entry applies to this lock yet (its model has none)');
          entry = out.entry;
        } else entry = await client.handbookGet(await resolveEntry(client, ref));
        print(g.json ? JSON.stringify(entry, null, 2) : entryDetail(entry));
      }),
    );
  hb.command('search <words...>')
    .description('full-text search; model numbers match even with a typo')
    .option('--limit <n>', 'at most this many', '20')
    .action(async (words: string[], f: { limit: string }, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const hits = await client.handbookSearch(words.join(' '), positiveInt(f.limit));
        print(g.json ? JSON.stringify(hits, null, 2) : hits.length ? entryTable(hits) : 'nothing found');
      }),
    );
  hb.command('verify <entry>')
    .description('mark an entry verified against the lock (at its current revision)')
    .option('--revision <n>', 'the revision you checked; refused if the entry has moved on', positiveInt)
    .option('--note <text>', 'what was checked')
    .action(async (ref: string, f: { revision?: number; note?: string }, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const e = await client.handbookVerify(await resolveEntry(client, ref), { ...(f.revision ? { revision: f.revision } : {}), ...(f.note ? { note: f.note } : {}) });
        print(g.json ? JSON.stringify(e, null, 2) : `verified ${e.manufacturer} ${e.modelNumber} "${e.title}" at revision ${e.revision}; due again ${when(e.dueAt)}`);
      }),
    );
  hb.command('stale')
    .description('entries that need re-verification: stale or never verified')
    .action(async (_f: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const items = await client.handbookStale();
        print(g.json ? JSON.stringify(items, null, 2) : items.length ? entryTable(items) : 'every entry is verified and inside its window');
      }),
    );
  hb.command('reveal <secretId>')
    .description('show a secret of an entry; the reveal is recorded with who, when and why')
    .requiredOption('--reason <text>', 'why you need it (recorded)')
    .action(async (secretId: string, f: { reason: string }, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const out = await client.handbookReveal(secretId, f.reason);
        print(g.json ? JSON.stringify(out, null, 2) : `${SECRET_KIND_LABELS[out.secret.kind]}${out.secret.label ? ` (${out.secret.label})` : ''}: ${out.value}\n(this reveal is recorded)`);
      }),
    );
  hb.command('export')
    .description('write the handbook (or one site or manufacturer) as a PDF: contents with links, bookmarks, secrets redacted unless asked for')
    .requiredOption('--pdf <file>', 'the PDF file to write')
    .option('--site <location>', 'only the entries that apply to the locks under this location (id or path)')
    .option('--manufacturer <name>', "only this manufacturer's entries")
    .option('--include-secrets', 'print secret values (needs the right to reveal them; each is recorded as a reveal)')
    .option('--reason <text>', 'why the secrets are included (required with --include-secrets; recorded)')
    .action(async (f: { pdf: string; site?: string; manufacturer?: string; includeSecrets?: boolean; reason?: string }, cmd: Command) => {
      if (f.site !== undefined && f.manufacturer !== undefined) throw new InvalidArgumentError('give --site or --manufacturer, not both');
      if (f.includeSecrets && !f.reason) throw new AppError('validation.failed', 'say why secrets are included: --reason <text>', [{ path: '--reason', message: 'required with --include-secrets' }]);
      if (!f.includeSecrets && f.reason) throw new AppError('validation.failed', '--reason goes with --include-secrets', [{ path: '--reason', message: 'only with --include-secrets' }]);
      await withClient(cmd, async (client, g) => {
        const scope = f.site !== undefined ? 'site' : f.manufacturer !== undefined ? 'manufacturer' : 'all';
        const locationId = f.site !== undefined ? await resolveLocation(client, f.site) : undefined;
        const out = await client.handbookExportPdf({ scope, locationId, manufacturer: f.manufacturer, includeSecrets: f.includeSecrets, reason: f.reason }, f.pdf);
        const summary = { file: f.pdf, entries: out.entries, bytes: out.bytes, secrets: f.includeSecrets ? 'included (each recorded as a reveal)' : 'redacted' };
        print(g.json ? JSON.stringify(summary, null, 2) : `wrote ${out.entries} entr${out.entries === 1 ? 'y' : 'ies'} to ${f.pdf} (${Math.ceil(out.bytes / 1024)} KiB); secrets ${summary.secrets}`);
      });
    });

  program
    .command('keys')
    .description('encryption keys of handbook secrets')
    .command('rotate')
    .description('re-wrap every data key under a new master key version (safe while the server runs)')
    .action(async (_f: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const out = await client.rotateKeys();
        print(g.json ? JSON.stringify(out, null, 2) : `master key version ${out.masterVersion} (${out.origin}); re-wrapped ${out.rewrapped} data key(s); secrets were not re-encrypted`);
      }),
    );
}
