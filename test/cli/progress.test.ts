import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ProgressPrinter } from '../../src/cli/progress.js';
import { IDLE, type OperationStatus } from '../../src/domain/events.js';

function stream(tty: boolean): PassThrough & { isTTY?: boolean; text: () => string } {
  const s = new PassThrough() as PassThrough & { isTTY?: boolean; text: () => string };
  let out = '';
  s.on('data', (c: Buffer) => {
    out += c.toString();
  });
  s.isTTY = tty;
  s.text = () => out;
  return s;
}

const at = (step: string, progress: number): OperationStatus => ({
  kind: 'sync',
  step,
  progress,
  startedAt: '2026-11-26T22:00:00.000Z',
});

describe('progress output', () => {
  it('redraws one bar on a terminal and ends the line when idle', () => {
    const out = stream(true);
    const p = new ProgressPrinter(out);
    p.update(at('pre-copy', 12));
    p.update(at('pre-copy', 47.5));
    p.update(IDLE);
    const text = out.text();
    expect(text).toContain('\r\x1b[2Ksync [##############----------------]  48% pre-copy');
    expect(text.endsWith('\n')).toBe(true);
    expect(text.split('\n')).toHaveLength(2);
  });

  it('prints plain lines otherwise: one per step and per 10 %', () => {
    const out = stream(false);
    const p = new ProgressPrinter(out);
    for (const n of [1, 3, 5, 11, 12, 25]) p.update(at('pre-copy', n));
    p.update(at('final-copy', 26));
    expect(out.text()).toBe(
      ['sync: pre-copy 1%', 'sync: pre-copy 11%', 'sync: pre-copy 25%', 'sync: final-copy 26%', ''].join(
        '\n',
      ),
    );
    expect(out.text()).not.toContain('\r');
  });
});
