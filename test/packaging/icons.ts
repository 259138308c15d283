/**
 * The add-on's icon.png (128x128) and logo.png (250x100), drawn in code and written as real PNGs (RGBA, zlib).
 * Regenerate them with `npx tsx test/packaging/icons.ts`; icons.test.ts checks that the committed files are
 * valid PNGs of the right size and hold exactly these pixels.
 */
import { writeFileSync } from 'node:fs';
import { deflateSync, inflateSync } from 'node:zlib';

export interface Image {
  width: number;
  height: number;
  /** RGBA, row by row. */
  pixels: Uint8Array;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) c = (CRC_TABLE[(c ^ byte) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

export function encodePng(image: Image): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(image.width, 0);
  ihdr.writeUInt32BE(image.height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const stride = image.width * 4;
  const raw = Buffer.alloc((stride + 1) * image.height);
  for (let y = 0; y < image.height; y++) {
    raw[y * (stride + 1)] = 0; // filter: none
    Buffer.from(image.pixels.buffer, image.pixels.byteOffset + y * stride, stride).copy(
      raw,
      y * (stride + 1) + 1,
    );
  }
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Reads an 8-bit RGBA, non-interlaced PNG such as encodePng writes, checking every chunk's CRC. */
export function decodePng(file: Buffer): Image {
  if (!file.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG: bad signature');
  let at = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  let ended = false;
  while (at < file.length) {
    const length = file.readUInt32BE(at);
    const type = file.toString('ascii', at + 4, at + 8);
    const data = file.subarray(at + 8, at + 8 + length);
    const crc = file.readUInt32BE(at + 8 + length);
    if (crc32(file.subarray(at + 4, at + 8 + length)) !== crc) throw new Error(`PNG chunk ${type}: bad CRC`);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[9] !== 6 || data[12] !== 0)
        throw new Error('only 8-bit RGBA, non-interlaced');
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') ended = true;
    at += 12 + length;
  }
  if (!ended || width === 0) throw new Error('PNG without IHDR or IEND');
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 4;
  if (raw.length !== (stride + 1) * height) throw new Error('PNG image data has the wrong size');
  const pixels = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    if (raw[y * (stride + 1)] !== 0) throw new Error('only filter type 0 is read here');
    pixels.set(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)), y * stride);
  }
  return { width, height, pixels };
}

// --- drawing -------------------------------------------------------------------------------------------------

type Rgb = [number, number, number];
const PURPLE: Rgb = [0xaa, 0x5c, 0xc3];
const BLUE: Rgb = [0x00, 0xa4, 0xdc];
const WHITE: Rgb = [255, 255, 255];

/** Coverage (0..1) of a shape at a point, sampled 4x4 per pixel for smooth edges. */
type Shape = (x: number, y: number) => boolean;

function roundedSquare(x0: number, y0: number, size: number, radius: number): Shape {
  return (x, y) => {
    const dx = Math.max(x0 + radius - x, 0, x - (x0 + size - radius));
    const dy = Math.max(y0 + radius - y, 0, y - (y0 + size - radius));
    return x >= x0 && x <= x0 + size && y >= y0 && y <= y0 + size && dx * dx + dy * dy <= radius * radius;
  };
}

function triangle(ax: number, ay: number, bx: number, by: number, cx: number, cy: number): Shape {
  const side = (px: number, py: number, qx: number, qy: number, x: number, y: number) =>
    (qx - px) * (y - py) - (qy - py) * (x - px);
  return (x, y) => {
    const d1 = side(ax, ay, bx, by, x, y);
    const d2 = side(bx, by, cx, cy, x, y);
    const d3 = side(cx, cy, ax, ay, x, y);
    return (d1 >= 0 && d2 >= 0 && d3 >= 0) || (d1 <= 0 && d2 <= 0 && d3 <= 0);
  };
}

class Canvas {
  readonly pixels: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.pixels = new Uint8Array(width * height * 4);
  }

  /** Paints a shape with a color per point (for gradients) and an opacity, antialiased. */
  fill(shape: Shape, color: (x: number, y: number) => Rgb, opacity = 1): void {
    const n = 4;
    for (let py = 0; py < this.height; py++) {
      for (let px = 0; px < this.width; px++) {
        let hits = 0;
        for (let sy = 0; sy < n; sy++)
          for (let sx = 0; sx < n; sx++) if (shape(px + (sx + 0.5) / n, py + (sy + 0.5) / n)) hits++;
        if (hits > 0) this.blend(px, py, color(px + 0.5, py + 0.5), (hits / (n * n)) * opacity);
      }
    }
  }

  blend(x: number, y: number, [r, g, b]: Rgb, alpha: number): void {
    const i = (y * this.width + x) * 4;
    const p = this.pixels;
    const a0 = (p[i + 3] ?? 0) / 255;
    const a = alpha + a0 * (1 - alpha);
    const mix = (c: number, c0: number) =>
      a === 0 ? 0 : Math.round((c * alpha + c0 * a0 * (1 - alpha)) / a);
    p[i] = mix(r, p[i] ?? 0);
    p[i + 1] = mix(g, p[i + 1] ?? 0);
    p[i + 2] = mix(b, p[i + 2] ?? 0);
    p[i + 3] = Math.round(a * 255);
  }

  image(): Image {
    return { width: this.width, height: this.height, pixels: this.pixels };
  }
}

const gradient =
  (x0: number, y0: number, size: number) =>
  (x: number, y: number): Rgb => {
    const t = Math.min(1, Math.max(0, (x - x0 + (y - y0)) / (2 * size)));
    return [0, 1, 2].map((k) => Math.round((PURPLE[k] ?? 0) * (1 - t) + (BLUE[k] ?? 0) * t)) as Rgb;
  };

/**
 * The mark: a rounded square in Jellyfin's purple-to-blue, a white play triangle (the serving Jellyfin) and a
 * fainter one behind it (the standby, ready to take over).
 */
function drawMark(c: Canvas, x0: number, y0: number, size: number): void {
  c.fill(roundedSquare(x0, y0, size, size * 0.2), gradient(x0, y0, size));
  const at = (fx: number, fy: number): [number, number] => [x0 + fx * size, y0 + fy * size];
  c.fill(triangle(...at(0.22, 0.2), ...at(0.22, 0.68), ...at(0.6, 0.44)), () => WHITE, 0.45);
  c.fill(triangle(...at(0.4, 0.32), ...at(0.4, 0.8), ...at(0.78, 0.56)), () => WHITE);
}

// 5x7 glyphs for the logo's words.
const GLYPHS: Record<string, string[]> = {
  A: ['01110', '10001', '10001', '11111', '10001', '10001', '10001'],
  E: ['11111', '10000', '10000', '11110', '10000', '10000', '11111'],
  F: ['11111', '10000', '10000', '11110', '10000', '10000', '10000'],
  I: ['01110', '00100', '00100', '00100', '00100', '00100', '01110'],
  J: ['00111', '00010', '00010', '00010', '00010', '10010', '01100'],
  L: ['10000', '10000', '10000', '10000', '10000', '10000', '11111'],
  N: ['10001', '11001', '10101', '10011', '10001', '10001', '10001'],
  O: ['01110', '10001', '10001', '10001', '10001', '10001', '01110'],
  R: ['11110', '10001', '10001', '11110', '10100', '10010', '10001'],
  V: ['10001', '10001', '10001', '10001', '10001', '01010', '00100'],
  Y: ['10001', '10001', '01010', '00100', '00100', '00100', '00100'],
};

function drawText(c: Canvas, text: string, x0: number, y0: number, scale: number, color: Rgb): void {
  let x = x0;
  for (const ch of text) {
    const rows = GLYPHS[ch];
    if (!rows) throw new Error(`no glyph for ${ch}`);
    rows.forEach((row, gy) => {
      for (let gx = 0; gx < row.length; gx++) {
        if (row[gx] !== '1') continue;
        for (let dy = 0; dy < scale; dy++)
          for (let dx = 0; dx < scale; dx++) c.blend(x + gx * scale + dx, y0 + gy * scale + dy, color, 1);
      }
    });
    x += 6 * scale;
  }
}

export function drawIcon(): Image {
  const c = new Canvas(128, 128);
  drawMark(c, 4, 4, 120);
  return c.image();
}

export function drawLogo(): Image {
  const c = new Canvas(250, 100);
  drawMark(c, 4, 4, 92);
  drawText(c, 'JELLYFIN', 108, 22, 3, PURPLE);
  drawText(c, 'FAILOVER', 108, 57, 3, BLUE);
  return c.image();
}

export const ICON_FILES = { icon: 'jellyfin-failover/icon.png', logo: 'jellyfin-failover/logo.png' } as const;

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(ICON_FILES.icon, encodePng(drawIcon()));
  writeFileSync(ICON_FILES.logo, encodePng(drawLogo()));
  process.stdout.write(`wrote ${ICON_FILES.icon} and ${ICON_FILES.logo}\n`);
}
