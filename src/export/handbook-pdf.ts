/**
 * Renders a handbook export (gathered and authorized by `HandbookService.exportSnapshot`) as a PDF
 * with pdfkit: a cover page, a table of contents whose lines link to each entry, PDF bookmarks
 * (manufacturer > entry), then one entry per page run. DejaVu Sans is embedded (subset) so Greek,
 * Cyrillic and the symbols we print ("•", "✓") survive; the recipient and export time are on every
 * page. No I/O beyond reading the font files, no policy: what is in the snapshot is printed.
 */
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import PDFDocument from 'pdfkit';
import { SECRET_KIND_LABELS, STEP_KIND_LABELS, type ExportedEntry, type HandbookExport, type ResourceTier, type WarningKind } from '../domain/handbook.js';

const require = createRequire(import.meta.url);
const FONT = { regular: require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf'), bold: require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf') };

/** What a redacted secret prints as. */
export const REDACTED = '•••• (redacted)';

const MARGIN = 56;
const TOC_LINE = 15;
const COLOR = { text: '#111111', muted: '#555555', stale: '#b00020', notice: '#8a5a00', link: '#0b4f9c' };
const STATUS_TEXT = { current: 'verified', stale: 'STALE', never_verified: 'NEVER VERIFIED' } as const;
const TIER_TITLES: Record<ResourceTier, string> = { manufacturer: 'Manufacturer', community: 'Community', support: 'Support line' };
const WARNING_TITLES: Record<WarningKind, string> = {
  alarm_may_trigger: 'Alarm may trigger',
  lock_out_of_service: 'Lock out of service',
  notify_monitoring: 'Notify the monitoring service',
  notify_occupants: 'Notify occupants',
  other: 'Warning',
};

const day = (d: Date | null) => (d ? d.toISOString().slice(0, 10) : '—');
const minute = (d: Date) => `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
const anchor = (e: ExportedEntry) => `entry-${e.entry.id}`;
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** The heading of an entry, as the contents, bookmarks and the entry page show it. */
export function entryHeading(e: ExportedEntry): string {
  const x = e.entry;
  return `${x.manufacturer} ${x.modelNumber}${x.lockName ? ` (${x.lockName})` : ''} — ${x.title}`;
}

/** Where each entry starts (0-based page index) and how many pages the document has. */
interface Layout {
  pageOf: Map<string, number>;
  pages: number;
}

/** What was written: pages and bytes. */
export interface PdfWritten {
  pages: number;
  bytes: number;
}

/**
 * Writes `data` as a PDF into `sink` (a file, an HTTP response), page by page as they are finished,
 * honouring the sink's back-pressure; the sink is not ended. The contents pages come before the
 * entries but print their page numbers, and every footer says "page i of n": a first pass lays the
 * document out into nothing to learn those numbers, the second writes it. Only the pages of the
 * entry being laid out are held in memory.
 */
export async function writeHandbookPdf(data: HandbookExport, sink: Writable): Promise<PdfWritten> {
  const layout = await pass(data, null, null);
  const out = await pass(data, layout, sink);
  return { pages: out.pages, bytes: out.bytes };
}

/** Renders `data` as one PDF buffer (tests, small scopes); `writeHandbookPdf` streams instead. */
export async function renderHandbookPdf(data: HandbookExport): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  await writeHandbookPdf(data, sink);
  return Buffer.concat(chunks);
}

/** One run over the document; with `known` (the first run's layout) it draws the contents and page furniture and writes to `sink`. */
async function pass(data: HandbookExport, known: Layout | null, sink: Writable | null): Promise<Layout & { bytes: number }> {
  const doc = new PDFDocument({
    size: 'A4',
    margins: { top: MARGIN, bottom: MARGIN, left: MARGIN, right: MARGIN },
    // Buffered so a finished entry's pages can be revisited for the header and footer, then flushed.
    bufferPages: true,
    autoFirstPage: true,
    info: { Title: `Reset handbook — ${data.scopeLabel}`, Author: 'lockwarden', Subject: `Prepared for ${data.recipient}`, CreationDate: data.exportedAt },
    lang: 'en',
  });
  doc.registerFont('body', FONT.regular);
  doc.registerFont('bold', FONT.bold);
  let bytes = 0;
  let full = false;
  doc.on('data', (c: Buffer) => {
    bytes += c.length;
    if (sink && !sink.write(c)) full = true;
  });
  const done = new Promise<void>((resolve, reject) => {
    doc.on('end', resolve);
    doc.on('error', reject);
  });
  const current = () => {
    const { start, count } = doc.bufferedPageRange();
    return start + count - 1;
  };
  // Draws the furniture on the finished pages, writes them out and lets the sink catch up.
  const flush = async () => {
    if (known) {
      const { start, count } = doc.bufferedPageRange();
      for (let i = start; i < start + count; i++) furniture(doc, data, i, known.pages);
    }
    doc.flushPages();
    // pdfkit emits its data on later ticks: give them a turn, then wait while the sink is full.
    await new Promise((resolve) => setImmediate(resolve));
    if (sink && full) {
      full = false;
      if (!sink.writableNeedDrain) return;
      await new Promise<void>((resolve, reject) => {
        const off = () => {
          sink.off('drain', ok);
          sink.off('close', closed);
          sink.off('error', closed);
        };
        const ok = () => (off(), resolve());
        const closed = () => (off(), reject(new Error('the PDF output was closed before the export finished')));
        sink.on('drain', ok);
        sink.on('close', closed);
        sink.on('error', closed);
      });
    }
  };

  cover(doc, data);
  const groups = groupByManufacturer(data.entries);
  const tocLines = groups.reduce((n, g) => n + 1 + g.entries.length, 0);
  const contentHeight = doc.page.height - 2 * MARGIN;
  const firstPageLines = Math.floor((contentHeight - 40) / TOC_LINE);
  const perPage = Math.floor(contentHeight / TOC_LINE);
  const tocPages = tocLines <= firstPageLines ? 1 : 1 + Math.ceil((tocLines - firstPageLines) / perPage);
  const tocStart = current() + 1;
  for (let i = 0; i < tocPages; i++) {
    doc.addPage();
    if (i === 0) doc.outline.addItem('Contents');
  }
  if (known) toc(doc, groups, known.pageOf, tocStart, firstPageLines, perPage);
  await flush();

  const pageOf = new Map<string, number>();
  for (const g of groups) {
    let bookmark: PDFKit.PDFOutline | null = null;
    for (const e of g.entries) {
      doc.addPage();
      bookmark ??= doc.outline.addItem(g.name, { expanded: true });
      bookmark.addItem(`${e.entry.modelNumber}${e.entry.lockName ? ` (${e.entry.lockName})` : ''} — ${e.entry.title}`);
      pageOf.set(e.entry.id, current());
      // Both passes draw the same things in the same order; a difference would print wrong page numbers.
      if (known && known.pageOf.get(e.entry.id) !== current()) throw new Error(`handbook PDF layout differs between passes at entry ${e.entry.id}`);
      entry(doc, e, data);
      await flush();
    }
  }
  const pages = current() + 1;
  if (known && known.pages !== pages) throw new Error(`handbook PDF layout differs between passes: ${known.pages} then ${pages} pages`);
  doc.end();
  await done;
  return { pageOf, pages, bytes };
}

function groupByManufacturer(entries: ExportedEntry[]): { name: string; entries: ExportedEntry[] }[] {
  const groups = new Map<string, ExportedEntry[]>();
  for (const e of entries) groups.set(e.entry.manufacturer, [...(groups.get(e.entry.manufacturer) ?? []), e]);
  return [...groups].map(([name, list]) => ({ name, entries: list }));
}

function cover(doc: PDFKit.PDFDocument, data: HandbookExport): void {
  doc.outline.addItem('Cover');
  doc.moveDown(6);
  doc.font('bold').fontSize(28).fillColor(COLOR.text).text('Reset handbook');
  doc.moveDown(0.5);
  doc.font('body').fontSize(16).text(data.scopeLabel);
  doc.moveDown(2);
  doc.fontSize(12);
  const row = (label: string, value: string) => doc.font('bold').text(`${label}: `, { continued: true }).font('body').text(value);
  row('Prepared for', data.recipient);
  row('Exported', minute(data.exportedAt));
  row('Entries', String(data.entries.length));
  const stale = data.entries.filter((e) => e.entry.status !== 'current').length;
  row('Stale or never verified', String(stale));
  doc.moveDown(2);
  if (data.secretsIncluded) {
    doc.fillColor(COLOR.stale).font('bold').text('CONTAINS SECRETS');
    doc.font('body').text(`Secret values are printed at the request of ${data.recipient} (reason: ${data.reason ?? ''}); each was recorded as a reveal. Keep this document locked away and destroy it after use.`);
  } else {
    doc.fillColor(COLOR.muted).font('body').text(`Secret values are redacted (${REDACTED}). Reveal one in lockwarden when you need it; the reveal is recorded.`);
  }
  doc.fillColor(COLOR.text);
}

function toc(doc: PDFKit.PDFDocument, groups: { name: string; entries: ExportedEntry[] }[], pageOf: Map<string, number>, start: number, firstPageLines: number, perPage: number): void {
  let page = start;
  doc.switchToPage(page);
  doc.font('bold').fontSize(18).fillColor(COLOR.text).text('Contents', MARGIN, MARGIN);
  let y = MARGIN + 40;
  let left = firstPageLines;
  const width = doc.page.width - 2 * MARGIN;
  const line = (draw: () => void) => {
    if (left === 0) {
      doc.switchToPage(++page);
      y = MARGIN;
      left = perPage;
    }
    draw();
    y += TOC_LINE;
    left--;
  };
  if (groups.length === 0) doc.font('body').fontSize(11).text('No entries in this scope.', MARGIN, y);
  for (const g of groups) {
    line(() => doc.font('bold').fontSize(11).fillColor(COLOR.text).text(clip(g.name, 80), MARGIN, y, { lineBreak: false }));
    for (const e of g.entries) {
      line(() => {
        const target = anchor(e);
        const n = String((pageOf.get(e.entry.id) ?? 0) + 1);
        const marker = e.entry.status === 'current' ? '' : `  ${STATUS_TEXT[e.entry.status]}`;
        doc.font('body').fontSize(10).fillColor(COLOR.link);
        doc.text(clip(`${e.entry.modelNumber}${e.entry.lockName ? ` (${e.entry.lockName})` : ''} — ${e.entry.title}  · rev ${e.entry.revision}${marker}`, 86), MARGIN + 12, y, { lineBreak: false, width: width - 52, goTo: target });
        doc.fillColor(COLOR.text).text(n, MARGIN + width - 36, y, { lineBreak: false, width: 36, align: 'right', goTo: target });
      });
    }
  }
  doc.fillColor(COLOR.text);
}

function entry(doc: PDFKit.PDFDocument, e: ExportedEntry, data: HandbookExport): void {
  const x = e.entry;
  const c = x.content;
  doc.font('bold').fontSize(15).fillColor(COLOR.text).text(entryHeading(e), { destination: anchor(e) });
  doc.moveDown(0.3);
  doc.font('body').fontSize(10);
  const meta = (label: string, value: string, color: string = COLOR.text) => doc.font('bold').fillColor(color).text(`${label}: `, { continued: true }).font('body').text(value).fillColor(COLOR.text);
  meta('Manufacturer', x.manufacturer);
  meta('Model', `${x.modelNumber} (${x.family})`);
  if (x.lockName) meta('Override for', e.appliesTo.map((a) => `${a.lockName} — ${a.location}`).join('; ') || x.lockName);
  else if (data.scope === 'site' && e.appliesTo.length) {
    const shown = e.appliesTo.slice(0, 12).map((a) => `${a.lockName} (${a.location})`);
    meta('Applies here to', `${shown.join('; ')}${e.appliesTo.length > shown.length ? `; and ${e.appliesTo.length - shown.length} more` : ''}`);
  } else meta('Applies to', 'every lock of this model without its own entry');
  meta('Revision', `${x.revision} — saved ${day(x.lastRevision.createdAt)} by ${x.lastRevision.authorLabel}: ${x.lastRevision.reason}`);
  meta('Last verified', x.verifiedAt ? `${day(x.verifiedAt)} by ${x.verifiedBy ?? '?'} (at revision ${x.verifiedRevision ?? '?'}); window ${x.verificationWindowDays} days, due ${day(x.dueAt)}` : `never; window ${x.verificationWindowDays} days`);
  if (x.status === 'stale') meta('STALE', `verification window passed on ${day(x.dueAt)}; re-verify before relying on this procedure`, COLOR.stale);
  if (x.status === 'never_verified') meta('NEVER VERIFIED', 'confirm this procedure on the lock, then mark it verified', COLOR.stale);
  if (c.generic) {
    doc.moveDown(0.4);
    doc.font('bold').fillColor(COLOR.notice).text("GENERIC TEMPLATE — confirm every step against the manufacturer's instructions for this model before use.").fillColor(COLOR.text);
  }
  if (c.summary) {
    doc.moveDown(0.5);
    doc.font('body').fontSize(10).text(c.summary);
  }
  if (c.estimatedMinutes) {
    doc.moveDown(0.4);
    meta('Estimated time', `${c.estimatedMinutes} min`);
  }
  section(doc, 'Safety warnings', c.warnings.map((w) => [`⚠ ${WARNING_TITLES[w.kind]}: `, w.text]));
  section(doc, 'Tools and materials', c.tools.map((t) => ['• ', t]));
  section(
    doc,
    'Steps',
    c.steps.map((s, i) => [`${i + 1}. [${STEP_KIND_LABELS[s.kind]}${s.seconds ? ` · ${s.seconds} s` : ''}] `, `${s.text}${s.sequence ? ` — enter: ${s.sequence}` : ''}`]),
  );
  for (const tier of ['manufacturer', 'community', 'support'] as const) {
    const list = c.resources.filter((r) => r.tier === tier);
    section(doc, `Resources — ${TIER_TITLES[tier]}`, list.map((r) => ['• ', `${r.label}${r.url ? ` <${r.url}>` : ''}${r.phone ? `, tel. ${r.phone}` : ''}${r.hours ? ` (${r.hours})` : ''}`]));
  }
  section(doc, 'Key contacts', c.contacts.map((k) => ['• ', `${k.name}${k.role ? `, ${k.role}` : ''}${k.phone ? `, ${k.phone}` : ''}${k.email ? `, ${k.email}` : ''}`]));
  section(doc, 'Secrets', e.secrets.map((s) => [`${SECRET_KIND_LABELS[s.kind]}${s.label ? ` (${s.label})` : ''}: `, s.value ?? REDACTED]));
}

function section(doc: PDFKit.PDFDocument, title: string, items: [string, string][]): void {
  if (items.length === 0) return;
  doc.moveDown(0.6);
  doc.font('bold').fontSize(11).fillColor(COLOR.text).text(title);
  doc.fontSize(10);
  for (const [lead, text] of items) {
    doc.moveDown(0.15);
    doc.font('bold').text(lead, { continued: true, indent: 8 }).font('body').text(text);
  }
}

/** The header and footer of page `i` (0-based) of `count`: scope, recipient, export time, page number. */
function furniture(doc: PDFKit.PDFDocument, data: HandbookExport, i: number, count: number): void {
  doc.switchToPage(i);
  const bottom = doc.page.margins.bottom;
  // Writing inside the margins would otherwise start a new page.
  doc.page.margins.bottom = 0;
  const width = doc.page.width - 2 * MARGIN;
  doc.font('body').fontSize(8).fillColor(COLOR.muted);
  doc.text(`lockwarden reset handbook — ${data.scopeLabel}${data.secretsIncluded ? ' — CONTAINS SECRETS' : ''}`, MARGIN, MARGIN / 2, { width, lineBreak: false });
  doc.text(`Prepared for ${data.recipient} · exported ${minute(data.exportedAt)} · page ${i + 1} of ${count}`, MARGIN, doc.page.height - MARGIN / 2 - 8, { width, align: 'center', lineBreak: false });
  doc.page.margins.bottom = bottom;
  doc.fillColor(COLOR.text);
}
