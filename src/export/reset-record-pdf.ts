/**
 * The signed close-out record of a reset case as a PDF (pdfkit, DejaVu Sans embedded like the
 * handbook's): the case, every step with its actor, time and result, the preflight and verification
 * checks with their evidence (photos by name and hash), who was rebuilt, and the Ed25519 signature
 * with the public key's fingerprint, so a reader can check the JSON record it prints. No database,
 * no policy: what is in `data` is printed.
 */
import { createRequire } from 'node:module';
import PDFDocument from 'pdfkit';

const require = createRequire(import.meta.url);
const FONT = { regular: require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf'), bold: require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf') };
const MARGIN = 50;
const COLOR = { text: '#111111', muted: '#555555', bad: '#b00020', good: '#1b6e20' };

/** A check as the record holds it. */
interface Mark {
  by: string;
  at: string;
  note: string;
  passed?: boolean;
  evidence?: string[];
}

/** What the PDF prints: the record's JSON (as signed), its signature, and the case's photos. */
export interface ResetRecordPdfData {
  record: {
    case: {
      id: string;
      reason: string;
      description: string;
      openedBy: string;
      openedAt: string;
      state: string;
      outcome: string | null;
      closedAt: string | null;
      closedBy: string | null;
      recommendation: { remedy: string; why: string };
      decision: { remedy: string; overrideReason: string | null; by: string; at: string } | null;
      preflight: Record<string, Mark>;
      approvals: Mark[];
      snapshot: { items: { key: string; label: string }[]; schedules: number; by: string; at: string } | null;
      accountUnbind: Mark | null;
      reset: { method: string; by: string; at: string; attempt: number } | null;
      block: { reason: string; by: string; at: string; note: string } | null;
      replacement: Mark | null;
      verification: Record<string, Mark>;
      rebuilt: Record<string, { how: string; by: string; at: string }>;
    };
    steps: { seq: number; phase: string; command: string; actor: string; actorId: string; at: string; from: string; to: string; events: Record<string, unknown>[] }[];
    signedAt: string;
  };
  lockName: string;
  location: string;
  signature: string;
  keyId: string;
  /** SHA-256 of the public key (SPKI DER), hex in groups of four. */
  fingerprint: string;
  verified: boolean;
  photos: { id: string; filename: string; caption: string; sha256: string; createdBy: string; createdAt: Date }[];
  /** Who asked for the PDF and when. */
  printedFor: string;
  printedAt: Date;
}

const words = (s: string) => s.replace(/_/g, ' ');
const when = (iso: string | null) => (iso ? `${iso.slice(0, 19).replace('T', ' ')} UTC` : '—');

/** What a step did, in words, from its domain events. */
function stepResult(events: Record<string, unknown>[]): string {
  if (events.length === 0) return '';
  const text = (v: unknown) => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '');
  return events
    .map((e) => {
      const t = text(e.type);
      if (t === 'check_result' || t === 'preflight_check') return `${words(text(e.check))}: ${e.passed ? 'passed' : 'FAILED'}${e.note ? ` (${text(e.note)})` : ''}`;
      if (t === 'snapshot_taken') return `snapshot of ${Array.isArray(e.items) ? e.items.length : text(e.items)} credentials`;
      if (t === 'credential_rebuilt') return `credential ${text(e.how)}`;
      if (t === 'decide') return `decided: ${words(text(e.remedy))}${e.overrideReason ? ` (override: ${text(e.overrideReason)})` : ''}`;
      if (t === 'reset_performed') return `reset performed (${text(e.method)})`;
      if (t === 'reset_blocked') return `reset blocked: ${words(text(e.reason))}`;
      if (t === 'procedure_step') return `procedure step ${text(e.step)} done`;
      return words(t) + (typeof e.note === 'string' && e.note ? ` (${e.note})` : '');
    })
    .join('; ');
}

/** Renders the record as a PDF buffer (a record is a few pages). */
export async function renderResetRecordPdf(data: ResetRecordPdfData): Promise<Buffer> {
  const c = data.record.case;
  const doc = new PDFDocument({
    size: 'A4',
    margins: { top: MARGIN, bottom: MARGIN, left: MARGIN, right: MARGIN },
    bufferPages: true,
    info: { Title: `Reset case record — ${data.lockName}`, Author: 'lockwarden', Subject: `Reset case ${c.id}`, CreationDate: data.printedAt },
    lang: 'en',
  });
  doc.registerFont('body', FONT.regular);
  doc.registerFont('bold', FONT.bold);
  const chunks: Buffer[] = [];
  doc.on('data', (b: Buffer) => chunks.push(b));
  const done = new Promise<void>((resolve, reject) => {
    doc.on('end', resolve);
    doc.on('error', reject);
  });
  // Actor ids in the case's marks are named by the labels the step log recorded for them.
  const names = new Map<string, string>();
  for (const s of data.record.steps) names.set(s.actorId, s.actor);
  const who = (id: string | null) => (id ? (names.get(id) ?? id) : '—');
  const photoName = new Map(data.photos.map((p) => [p.id, p.filename]));
  const evidence = (ids: string[] | undefined) => (ids?.length ? ` Evidence: ${ids.map((id) => (photoName.has(id) ? `photo ${photoName.get(id)!}` : id)).join(', ')}.` : '');

  const heading = (text: string) => {
    doc.moveDown(0.8);
    doc.font('bold').fontSize(12).fillColor(COLOR.text).text(text);
    doc.moveDown(0.2);
    doc.fontSize(9.5);
  };
  const row = (label: string, value: string, color: string = COLOR.text) => doc.font('bold').fillColor(color).text(`${label}: `, { continued: true }).font('body').text(value).fillColor(COLOR.text);
  const mark = (label: string, m: Mark) => {
    const result = m.passed === undefined ? '' : m.passed ? 'passed' : 'FAILED';
    doc.font('bold').fillColor(m.passed === false ? COLOR.bad : COLOR.text).text(`${label}${result ? ` — ${result}` : ''}`, { continued: true });
    doc.font('body').fillColor(COLOR.text).text(`  by ${who(m.by)} at ${when(m.at)}.${m.note ? ` ${m.note}.` : ''}${evidence(m.evidence)}`);
  };

  doc.font('bold').fontSize(20).fillColor(COLOR.text).text('Reset case record');
  doc.font('body').fontSize(12).text(`${data.lockName} — ${data.location}`);
  doc.moveDown(0.6);
  doc.fontSize(9.5);
  row('Case', c.id);
  row('Reason', words(c.reason) + (c.description ? ` — ${c.description}` : ''));
  row('Opened', `${when(c.openedAt)} by ${who(c.openedBy)}`);
  row('Recommendation', `${words(c.recommendation.remedy)}: ${c.recommendation.why}`);
  if (c.decision) row('Decision', `${words(c.decision.remedy)} by ${who(c.decision.by)} at ${when(c.decision.at)}${c.decision.overrideReason ? ` (override: ${c.decision.overrideReason})` : ''}`);
  row('Outcome', `${words(c.outcome ?? c.state)}, closed ${when(c.closedAt)} by ${who(c.closedBy)}`);

  heading('Signature');
  row('Signed at', when(data.record.signedAt));
  row('Algorithm', 'Ed25519 over the canonical JSON record (GET /api/reset-cases/:id/record)');
  row('Key id', data.keyId);
  row('Public key fingerprint (SHA-256)', data.fingerprint);
  row('Signature', data.signature);
  row('Verified by this server', data.verified ? 'yes' : 'NO — the signature does not check with this server’s key', data.verified ? COLOR.good : COLOR.bad);

  heading('Preflight');
  const pre = Object.entries(c.preflight);
  if (pre.length === 0) doc.font('body').text('No preflight checks recorded.');
  for (const [k, m] of pre) mark(words(k), m);
  for (const a of c.approvals) mark('Approved by a second person', a);
  if (c.snapshot) row('Snapshot', `${c.snapshot.items.length} credentials (${c.snapshot.schedules} with schedules) sealed at ${when(c.snapshot.at)} by ${who(c.snapshot.by)}`);
  if (c.accountUnbind) mark('Cloud account binding removed', c.accountUnbind);
  if (c.reset) row('Reset', `${c.reset.method}, attempt ${c.reset.attempt}, at ${when(c.reset.at)} by ${who(c.reset.by)}`);
  if (c.block) row('Blocked', `${words(c.block.reason)} at ${when(c.block.at)} by ${who(c.block.by)}${c.block.note ? ` — ${c.block.note}` : ''}`, COLOR.bad);
  if (c.replacement) mark('Device replaced', c.replacement);

  heading('Verification checks');
  const checks = Object.entries(c.verification);
  if (checks.length === 0) doc.font('body').text('No verification checks recorded.');
  for (const [k, m] of checks) mark(words(k), m);

  heading('Rebuild');
  const items = c.snapshot?.items ?? [];
  if (items.length === 0) doc.font('body').text('Nothing to restore.');
  for (const i of items) {
    const r = c.rebuilt[i.key];
    doc.font('body').text(r ? `${i.label}: ${r.how} at ${when(r.at)} by ${who(r.by)}` : `${i.label}: not rebuilt`);
  }

  heading(`Photos (${data.photos.length})`);
  if (data.photos.length === 0) doc.font('body').text('No photos.');
  for (const p of data.photos) doc.font('body').text(`${p.filename}${p.caption ? ` — ${p.caption}` : ''}: sha256 ${p.sha256}, by ${p.createdBy} at ${when(p.createdAt.toISOString())}`);

  heading('Steps');
  for (const s of data.record.steps) {
    doc.font('bold').text(`${s.seq}. ${words(s.command)}${s.phase === 'intent' ? ' (device command sent)' : ''}`, { continued: true });
    doc.font('body').text(`  — ${s.actor}, ${when(s.at)}, ${words(s.from)} → ${words(s.to)}`);
    const result = stepResult(s.events);
    if (result) doc.fillColor(COLOR.muted).text(result, { indent: 14 }).fillColor(COLOR.text);
  }

  const { start, count } = doc.bufferedPageRange();
  for (let i = start; i < start + count; i++) {
    doc.switchToPage(i);
    const bottom = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    doc.font('body').fontSize(7.5).fillColor(COLOR.muted);
    doc.text(`lockwarden reset case ${c.id} · ${data.lockName} · printed for ${data.printedFor} at ${when(data.printedAt.toISOString())} · page ${i + 1} of ${count}`, MARGIN, doc.page.height - MARGIN / 2 - 8, {
      width: doc.page.width - 2 * MARGIN,
      align: 'center',
      lineBreak: false,
    });
    doc.page.margins.bottom = bottom;
  }
  doc.end();
  await done;
  return Buffer.concat(chunks);
}
