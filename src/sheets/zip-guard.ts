/**
 * Checks a zip archive (an uploaded XLSX) before any parser inflates it: a 1 MB file can inflate to
 * hundreds of MB (a zip bomb) and hold the server while it does. The central directory is read with
 * yauzl (entry count, declared sizes, compression ratios), then every entry is inflated once as a
 * stream and counted, stopping at the first byte past its bound, so a header that lies about its size
 * is caught without inflating the rest. Inflation runs on zlib's thread pool: the event loop keeps
 * answering meanwhile.
 */
import yauzl from 'yauzl';

export interface ZipLimits {
  /** Entries in the archive. */
  maxEntries: number;
  /** Uncompressed bytes of one entry. */
  maxEntryBytes: number;
  /** Uncompressed bytes of all entries together. */
  maxTotalBytes: number;
  /** Uncompressed / compressed for an entry past `ratioFloorBytes` (text compresses 5-30x; bombs 100x and more). */
  maxRatio: number;
  ratioFloorBytes: number;
}

/** What an XLSX import accepts: far above a 20,000-row sheet, far below what would stall the server. */
export const XLSX_LIMITS: ZipLimits = { maxEntries: 2000, maxEntryBytes: 64 * 1024 * 1024, maxTotalBytes: 96 * 1024 * 1024, maxRatio: 150, ratioFloorBytes: 1024 * 1024 };

/** The archive was refused; `message` names the entry and the bound, for the person who sent it. */
export class ZipRefused extends Error {
  override readonly name = 'ZipRefused';
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(n < 10 * 1024 * 1024 ? 1 : 0)} MB`;

/** Resolves when `buf` is a zip archive within `limits`; rejects with `ZipRefused` naming the problem. */
export async function checkZip(buf: Buffer, limits: ZipLimits = XLSX_LIMITS): Promise<void> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    // validateEntrySizes: yauzl also fails an entry whose inflated size differs from its header.
    yauzl.fromBuffer(buf, { lazyEntries: true, validateEntrySizes: true, strictFileNames: false }, (err, z) => (err ? reject(new ZipRefused(`the file is not a readable zip archive (${err.message})`)) : resolve(z))),
  );
  if (zip.entryCount > limits.maxEntries) {
    zip.close();
    throw new ZipRefused(`the archive has ${zip.entryCount} entries; an XLSX import takes at most ${limits.maxEntries}`);
  }
  let declaredTotal = 0;
  let inflatedTotal = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('error', (e: Error) => reject(e instanceof ZipRefused ? e : new ZipRefused(`the archive cannot be read (${e.message})`)));
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        const name = entry.fileName.slice(0, 120);
        if (entry.fileName.endsWith('/')) return zip.readEntry();
        declaredTotal += entry.uncompressedSize;
        if (entry.uncompressedSize > limits.maxEntryBytes) return reject(new ZipRefused(`${name} inflates to ${mb(entry.uncompressedSize)}; one entry may hold at most ${mb(limits.maxEntryBytes)}`));
        if (declaredTotal > limits.maxTotalBytes) return reject(new ZipRefused(`the archive inflates to more than ${mb(limits.maxTotalBytes)} in all`));
        if (entry.uncompressedSize > limits.ratioFloorBytes && entry.uncompressedSize > limits.maxRatio * Math.max(1, entry.compressedSize)) {
          return reject(new ZipRefused(`${name} is compressed ${Math.round(entry.uncompressedSize / Math.max(1, entry.compressedSize))} to 1 (${mb(entry.compressedSize)} to ${mb(entry.uncompressedSize)}); more than ${limits.maxRatio} to 1 is refused as a zip bomb`));
        }
        // Inflate it once and count: a header may lie, so the bound is enforced on the bytes themselves.
        zip.openReadStream(entry, (err, stream) => {
          if (err) return reject(new ZipRefused(`${name} cannot be read (${err.message})`));
          let n = 0;
          stream.on('data', (c: Buffer) => {
            n += c.length;
            inflatedTotal += c.length;
            if (n > limits.maxEntryBytes || inflatedTotal > limits.maxTotalBytes) {
              stream.destroy();
              reject(new ZipRefused(`${name} inflates past ${mb(Math.min(limits.maxEntryBytes, limits.maxTotalBytes))}; refused`));
            }
          });
          stream.on('error', (e: Error) => reject(new ZipRefused(`${name} cannot be read (${e.message})`)));
          stream.on('end', () => zip.readEntry());
        });
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
}
