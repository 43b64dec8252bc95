import type { LocationNode } from '../domain/locations.js';
import type { Lock } from '../domain/locks.js';
import { FAMILY_LABELS, RESET_BEHAVIOUR_LABELS, type LockModel } from '../domain/lock-models.js';
import { SERVICE_STATE_LABELS } from '../domain/locks.js';
import type { Credential, SlotState } from '../domain/credentials.js';
import { WEEKDAYS, type CredentialSchedule, type Weekday } from '../drivers/contract.js';
import type { BulkView, LockCredentialsView } from '../services/credential-service.js';

/** Renders rows as aligned text columns. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The last parts of a location path, enough to find the door. */
export function shortPath(lock: Lock): string {
  return lock.locationPath
    .filter((p) => p.kind !== 'organisation')
    .map((p) => p.name)
    .join(' / ');
}

export function lockTable(locks: Lock[]): string {
  return table(
    ['ID', 'NAME', 'MODEL', 'STATE', 'BATTERY', 'LOCATION'],
    locks.map((l) => [l.id, l.name, `${l.manufacturer} ${l.modelNumber}`, SERVICE_STATE_LABELS[l.serviceState], l.batteryPercent === null ? '-' : `${l.batteryPercent}%`, shortPath(l)]),
  );
}

export function lockDetail(l: Lock): string {
  const rows: [string, string][] = [
    ['Name', l.name + (l.isDemo ? '  [demo]' : '')],
    ['ID', l.id],
    ['Model', `${l.manufacturer} ${l.modelNumber} (${FAMILY_LABELS[l.family]})`],
    ['Location', shortPath(l)],
    ['State', SERVICE_STATE_LABELS[l.serviceState] + (l.retiredReason ? ` (${l.retiredReason})` : '')],
    ['Serial', l.serial || '-'],
    ['Firmware', l.firmware || '-'],
    ['Installed', l.installedOn ?? '-'],
    ['Driver', `${l.driver}${l.externalId ? ` / ${l.externalId}` : ''}`],
    ['Credentials', l.credentialStorage],
    ['Key override', l.mechanicalOverride ? 'yes' : 'no'],
    ['Battery', l.batteryPercent === null ? 'unknown' : `${l.batteryPercent}%`],
    ['Notes', l.notes || '-'],
  ];
  return rows.map(([k, v]) => `${k.padEnd(13)}${v}`).join('\n');
}

export function modelTable(models: LockModel[]): string {
  return table(
    ['ID', 'MANUFACTURER', 'MODEL', 'FAMILY', 'PIN SLOTS', 'RESET'],
    models.map((m) => [m.id, m.manufacturer, m.modelNumber, FAMILY_LABELS[m.family], String(m.capabilities.pinSlots), RESET_BEHAVIOUR_LABELS[m.resetBehaviour]]),
  );
}

/** Draws the location tree with box characters, lock counts on the right. */
export function tree(roots: LocationNode[]): string {
  const out: string[] = [];
  const walk = (n: LocationNode, prefix: string, last: boolean, top: boolean) => {
    out.push(`${top ? '' : `${prefix}${last ? '└─ ' : '├─ '}`}${n.label}: ${n.name}  (${n.lockCount} lock${n.lockCount === 1 ? '' : 's'})  ${n.id}`);
    const next = top ? '' : `${prefix}${last ? '   ' : '│  '}`;
    n.children.forEach((c, i) => walk(c, next, i === n.children.length - 1, false));
  };
  roots.forEach((r) => walk(r, '', true, true));
  return out.join('\n');
}

const DAY_LABELS: Record<Weekday, string> = { mon: 'Mon', tue: 'Tue', wed: 'Wed', thu: 'Thu', fri: 'Fri', sat: 'Sat', sun: 'Sun' };

/** "2026-06-01 15:00 +02:00" from an ISO instant with offset; anything else as given. */
function instantWords(iso: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(?::(\d\d)(?:\.\d+)?)?(Z|[+-]\d\d:\d\d)$/i.exec(iso);
  if (!m) return iso;
  const seconds = m[3] && m[3] !== '00' ? `:${m[3]}` : '';
  return `${m[1]} ${m[2]}${seconds} ${m[4]!.toUpperCase() === 'Z' ? 'UTC' : m[4]}`;
}

/** Days as runs: "Mon-Fri", "Mon, Wed, Fri", "Sat-Sun", "every day". */
export function daysWords(days: readonly string[]): string {
  const set = new Set(days);
  if (WEEKDAYS.every((d) => set.has(d))) return 'every day';
  const runs: string[] = [];
  let i = 0;
  while (i < WEEKDAYS.length) {
    if (!set.has(WEEKDAYS[i]!)) {
      i++;
      continue;
    }
    let j = i;
    while (j + 1 < WEEKDAYS.length && set.has(WEEKDAYS[j + 1]!)) j++;
    const a = DAY_LABELS[WEEKDAYS[i]!];
    const b = DAY_LABELS[WEEKDAYS[j]!];
    runs.push(j === i ? a : j === i + 1 ? `${a}, ${b}` : `${a}-${b}`);
    i = j + 1;
  }
  return runs.join(', ');
}

/** When a PIN works, in words: "always", "from ... until ...", "Mon-Fri 09:00-17:00". */
export function scheduleWords(s: CredentialSchedule): string {
  switch (s.kind) {
    case 'always':
      return 'always';
    case 'window':
      return `from ${instantWords(s.from)} until ${instantWords(s.until)}`;
    case 'recurring':
      return `${daysWords(s.days)} ${s.start}-${s.end}`;
  }
}

/** How a slot compares with the lock, in words. */
export const SLOT_STATE_WORDS: Record<SlotState, string> = {
  in_sync: 'in sync',
  missing: 'not on the lock yet',
  code_mismatch: 'other code on the lock',
  schedule_mismatch: 'schedule differs on the lock',
  pending_removal: 'still on the lock',
  unmanaged: 'unmanaged (on the lock only)',
};

/** A credential's status in words (where it stands on its way to, or off, the lock). */
export const CREDENTIAL_STATUS_WORDS: Record<Credential['status'], string> = {
  pending: 'pending',
  confirmed: 'confirmed',
  failed: 'failed',
  removing: 'revoking',
  removed: 'revoked',
};

/** A date from the services (Date) or the API (ISO string), as "YYYY-MM-DD HH:MM UTC". */
export function when(d: Date | string | null | undefined): string {
  if (!d) return 'never';
  const t = new Date(d);
  return Number.isNaN(t.getTime()) ? String(d) : `${t.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** The slots of a lock: who holds each, when it works, where it stands. Codes are never shown. */
export function pinTable(view: LockCredentialsView): string {
  const read = Boolean(view.observation?.readAt);
  return table(
    ['SLOT', 'HOLDER', 'SCHEDULE', 'STATUS', 'ON THE LOCK', 'CREDENTIAL', 'VERSION'],
    view.slots.map((s) => {
      const c = s.credential;
      const status = c ? CREDENTIAL_STATUS_WORDS[c.status] + (c.status === 'failed' && c.lastError ? `: ${c.lastError}` : '') : '-';
      const drift = !read && s.state === 'missing' ? 'not read yet' : SLOT_STATE_WORDS[s.state];
      return [
        String(s.slot),
        c?.holder ?? (s.observed?.name || '(no name)'),
        scheduleWords(c?.schedule ?? s.observed?.schedule ?? { kind: 'always' }),
        status,
        drift,
        c?.id ?? '-',
        c ? String(c.version) : '-',
      ];
    }),
  );
}

/** Controllers paired with the lock (hubs, phones, fabrics), and any removal under way. */
export function controllerTable(view: LockCredentialsView): string {
  return table(
    ['CONTROLLER', 'LABEL', 'KIND', 'ADMIN', 'REMOVAL'],
    view.controllers.map((c) => [c.id, c.label, c.kind, c.admin ? 'yes' : 'no', c.removal ? CREDENTIAL_STATUS_WORDS[c.removal.status] : '-']),
  );
}

/** "[#####-----] 12/40 done, 1 failed" */
export function progressBar(b: Pick<BulkView, 'total' | 'done' | 'failed'>, width = 20): string {
  const settled = b.total === 0 ? 1 : (b.done + b.failed) / b.total;
  const filled = Math.min(width, Math.round(settled * width));
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${b.done}/${b.total} done, ${b.failed} failed`;
}

/** A bulk change for people: what, how far, and each failure by lock (named where `names` knows it). */
export function bulkSummary(b: BulkView, names: ReadonlyMap<string, string> = new Map()): string {
  const lines = [
    `bulk ${b.id}: ${b.description}`,
    `${b.finished ? 'finished' : 'running'}: ${b.done}/${b.total} done, ${b.failed} failed, ${b.pending} pending (started ${when(b.createdAt)} by ${b.createdBy})`,
  ];
  if (b.failures.length) {
    lines.push(`failures${b.failures.length < b.failed ? ` (first ${b.failures.length} of ${b.failed})` : ''}:`);
    for (const f of b.failures) lines.push(`  ${names.has(f.lockId) ? `${names.get(f.lockId)} (${f.lockId})` : `lock ${f.lockId}`}: ${f.error}`);
  }
  return lines.join('\n');
}

/** Recent bulk changes, one line each. */
export function bulkTable(items: BulkView[]): string {
  return table(
    ['ID', 'STARTED', 'STATE', 'PROGRESS', 'DESCRIPTION'],
    items.map((b) => [b.id, when(b.createdAt), b.finished ? 'finished' : 'running', `${b.done}/${b.total} done, ${b.failed} failed`, b.description]),
  );
}
