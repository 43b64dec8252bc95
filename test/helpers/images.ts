/** Test files made in code: images with sharp (optionally with GPS EXIF or an orientation), a tiny PDF. */
import sharp from 'sharp';

export function picture(width = 800, height = 600) {
  // A gradient-ish picture: two colours side by side, so rotation is visible in the pixels.
  const left = { r: 200, g: 40, b: 40 };
  return sharp({ create: { width, height, channels: 3, background: { r: 40, g: 120, b: 200 } } }).composite([
    { input: { create: { width: Math.floor(width / 2), height, channels: 3, background: left } }, left: 0, top: 0 },
  ]);
}

export const png = (w?: number, h?: number) => picture(w, h).png().toBuffer();
export const jpeg = (w?: number, h?: number) => picture(w, h).jpeg({ quality: 90 }).toBuffer();
export const webp = (w?: number, h?: number) => picture(w, h).webp().toBuffer();

/** A JPEG from a phone on site: camera make and GPS position in its EXIF. */
export const jpegWithGps = () =>
  picture(800, 600)
    .jpeg({ quality: 90 })
    .withExif({ IFD0: { Make: 'SiteCam', Model: 'GPS-1' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 2/1', GPSLongitudeRef: 'W', GPSLongitude: '0/1 7/1 39/1' } })
    .toBuffer();

/** A JPEG stored landscape (800x600) whose EXIF says "rotate 90° clockwise" (orientation 6). */
export const jpegRotated = () => picture(800, 600).jpeg({ quality: 90 }).withMetadata({ orientation: 6 }).toBuffer();

/** True when EXIF data holds a GPS IFD pointer (tag 0x8825, either byte order). */
export function hasGps(exif: Buffer | undefined): boolean {
  return !!exif && (exif.includes(Buffer.from([0x25, 0x88])) || exif.includes(Buffer.from([0x88, 0x25])));
}

/** The smallest valid PDF worth the name. */
export function tinyPdf(label = 'diagram'): Buffer {
  const objs = ['<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Kids [3 0 R] /Count 1 >>', `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>`];
  const stream = `BT /F1 12 Tf 20 100 Td (${label}) Tj ET`;
  objs.push(`<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`);
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objs.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}
