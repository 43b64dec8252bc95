/**
 * Hostile XLSX files for tests and benchmarks, made here: a real workbook (written by exceljs) whose
 * sheet is replaced by one that inflates to `inflatedMb` MB of rows (deflated as a stream, so making
 * it costs little memory), and a variant whose headers lie about that size.
 */
import { createDeflateRaw, crc32 } from 'node:zlib';
import yauzl from 'yauzl';
import { writeXlsx } from '../../src/sheets/files.js';

interface Part {
  name: string;
  data: Buffer;
  crc: number;
  size: number;
  compressed: Buffer;
}

async function deflate(chunks: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<{ compressed: Buffer; crc: number; size: number }> {
  const z = createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  z.on('data', (c: Buffer) => out.push(c));
  const done = new Promise<void>((r, j) => {
    z.on('end', r);
    z.on('error', j);
  });
  let crc = 0;
  let size = 0;
  for await (const c of chunks) {
    crc = crc32(c, crc);
    size += c.length;
    if (!z.write(c)) await new Promise((r) => z.once('drain', r));
  }
  z.end();
  await done;
  return { compressed: Buffer.concat(out), crc, size };
}

async function entriesOf(buf: Buffer): Promise<{ name: string; data: Buffer }[]> {
  const zip = await new Promise<yauzl.ZipFile>((r, j) => yauzl.fromBuffer(buf, { lazyEntries: true }, (e, z) => (e ? j(e) : r(z))));
  const out: { name: string; data: Buffer }[] = [];
  await new Promise<void>((resolve, reject) => {
    zip.on('end', resolve);
    zip.on('error', reject);
    zip.on('entry', (entry: yauzl.Entry) =>
      zip.openReadStream(entry, (err, s) => {
        if (err) return reject(err);
        const parts: Buffer[] = [];
        s.on('data', (c: Buffer) => parts.push(c));
        s.on('end', () => {
          out.push({ name: entry.fileName, data: Buffer.concat(parts) });
          zip.readEntry();
        });
      }),
    );
    zip.readEntry();
  });
  return out;
}

function zipOf(parts: Part[], lie?: { name: string; size: number }): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const p of parts) {
    const size = lie?.name === p.name ? lie.size : p.size;
    const name = Buffer.from(p.name);
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(20, 4);
    h.writeUInt16LE(0, 6);
    h.writeUInt16LE(8, 8);
    h.writeUInt32LE(p.crc >>> 0, 14);
    h.writeUInt32LE(p.compressed.length, 18);
    h.writeUInt32LE(size, 22);
    h.writeUInt16LE(name.length, 26);
    locals.push(h, name, p.compressed);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(8, 10);
    c.writeUInt32LE(p.crc >>> 0, 16);
    c.writeUInt32LE(p.compressed.length, 20);
    c.writeUInt32LE(size, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt32LE(offset, 42);
    central.push(c, name);
    offset += 30 + name.length + p.compressed.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(parts.length, 8);
  end.writeUInt16LE(parts.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/**
 * An inventory workbook whose first sheet inflates to about `inflatedMb` MB of one-cell rows; with
 * `lie`, its headers claim the sheet is 4 KB (so only counting the inflated bytes catches it).
 */
export async function xlsxBomb(inflatedMb: number, opts: { lie?: boolean } = {}): Promise<Buffer> {
  const base = await entriesOf(await writeXlsx({ headers: ['location', 'name'], rows: [['Site/Unit', 'Door']] }, 'inventory'));
  const row = Buffer.from('<row><c t="inlineStr"><is><t>Hall</t></is></c><c t="inlineStr"><is><t>Front door</t></is></c></row>'.repeat(10_000));
  const head = Buffer.from('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>');
  const tail = Buffer.from('</sheetData></worksheet>');
  const times = Math.ceil((inflatedMb * 1024 * 1024) / row.length);
  function* sheet(): Generator<Buffer> {
    yield head;
    for (let i = 0; i < times; i++) yield row;
    yield tail;
  }
  const parts: Part[] = [];
  for (const e of base) {
    const d = e.name === 'xl/worksheets/sheet1.xml' ? await deflate(sheet()) : await deflate([e.data]);
    parts.push({ name: e.name, data: e.data, crc: d.crc, size: d.size, compressed: d.compressed });
  }
  return zipOf(parts, opts.lie ? { name: 'xl/worksheets/sheet1.xml', size: 4096 } : undefined);
}
