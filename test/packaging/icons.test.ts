import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodePng, drawIcon, drawLogo, encodePng, ICON_FILES } from './icons.js';

describe('add-on icon and logo', () => {
  it.each([
    ['icon', ICON_FILES.icon, 128, 128, drawIcon],
    ['logo', ICON_FILES.logo, 250, 100, drawLogo],
  ])(
    '%s is a valid %s PNG of the size the store shows, drawn by icons.ts',
    (_name, path, width, height, draw) => {
      const file = readFileSync(path);
      const image = decodePng(file);
      expect([image.width, image.height]).toEqual([width, height]);
      // Exactly the pixels the drawing code makes (compared decoded: zlib's bytes may differ between versions).
      expect(Buffer.from(image.pixels).equals(Buffer.from(draw().pixels))).toBe(true);
      // Not blank: opaque where the mark is, transparent in a corner (rounded).
      expect(image.pixels[3]).toBe(0);
      const centre = ((height >> 1) * width + (height >> 1)) * 4;
      expect(image.pixels[centre + 3]).toBe(255);
    },
  );

  it('encodes and decodes losslessly, and refuses a damaged file', () => {
    const image = drawIcon();
    const png = encodePng(image);
    expect(Buffer.from(decodePng(png).pixels).equals(Buffer.from(image.pixels))).toBe(true);
    const damaged = Buffer.from(png);
    damaged[40] = (damaged[40] ?? 0) ^ 0xff;
    expect(() => decodePng(damaged)).toThrow(/bad CRC/);
    expect(() => decodePng(Buffer.from('GIF89a'))).toThrow(/bad signature/);
  });
});
