/**
 * Reads a produced PDF back the way a viewer would, with pdf.js (Mozilla's maintained parser, legacy
 * build for Node): the text of each page, the outline (bookmarks) and the internal links.
 */
import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';

export interface OutlineNode {
  title: string;
  items: OutlineNode[];
}

export interface ReadPdf {
  /** Text of each page, items joined by spaces. */
  pages: string[];
  outline: OutlineNode[];
  /** Named destinations that link annotations point at, page by page. */
  links: string[][];
  /** Named destinations the document defines. */
  destinations: string[];
}

/** Parses `pdf` with pdf.js and returns its text, outline and links. */
export async function readPdf(pdf: Buffer | Uint8Array): Promise<ReadPdf> {
  const doc = await getDocument({ data: new Uint8Array(pdf), isEvalSupported: false, disableFontFace: true, useSystemFonts: false, verbosity: 0 }).promise;
  try {
    const pages: string[] = [];
    const links: string[][] = [];
    for (let i = 1; i <= doc.numPages; i++) {
      const page = await doc.getPage(i);
      const text = await page.getTextContent();
      pages.push(
        text.items
          .map((it) => ('str' in it ? it.str : ''))
          .join(' ')
          .replace(/\s+/g, ' '),
      );
      const annots = (await page.getAnnotations()) as { subtype: string; dest?: unknown }[];
      links.push(annots.filter((a) => a.subtype === 'Link' && typeof a.dest === 'string').map((a) => a.dest as string));
    }
    const toNode = (o: { title: string; items: unknown[] }): OutlineNode => ({ title: o.title, items: (o.items as { title: string; items: unknown[] }[]).map(toNode) });
    const outline = ((await doc.getOutline()) ?? []).map(toNode);
    const destinations = Object.keys(await doc.getDestinations());
    return { pages, outline, links, destinations };
  } finally {
    await doc.destroy();
  }
}
