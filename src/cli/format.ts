import type { LocationNode } from '../domain/locations.js';
import type { Lock } from '../domain/locks.js';
import { FAMILY_LABELS, RESET_BEHAVIOUR_LABELS, type LockModel } from '../domain/lock-models.js';
import { SERVICE_STATE_LABELS } from '../domain/locks.js';

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
