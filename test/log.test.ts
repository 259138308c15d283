import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';

function sink(): { stream: Writable & { write: Writable['write'] }; lines: () => string[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean) };
}

describe('logger', () => {
  it('never prints secrets: neither by field name nor by value inside messages and errors', () => {
    const out = sink();
    const log = createLogger({ level: 'info', secrets: ['hunter2-secret'], destination: out.stream });
    const child = log.child({ site: 'slave' });
    child.info({ mqtt: { password: 'hunter2-secret', url: 'mqtt://b' } }, 'connecting');
    child.error({ err: new Error('auth failed for hunter2-secret') }, 'broker said hunter2-secret is wrong');
    child.info({ config: { mqtt: { password: 'other-pass' } }, privateKey: 'PEM' }, 'config');
    const text = out.lines().join('\n');
    expect(text).not.toContain('hunter2-secret');
    expect(text).not.toContain('other-pass');
    expect(text).not.toContain('PEM');
    expect(text).toContain('[redacted]');
    const first = JSON.parse(out.lines()[0] ?? '{}') as { site: string; msg: string; level: string };
    expect(first).toMatchObject({ site: 'slave', msg: 'connecting', level: 'info' });
  });
});
