import { describe, expect, it } from 'vitest';
import { COMMAND_NAMES, MAX_PAYLOAD_BYTES, parseCommand } from '../../src/service/commands.js';

const PREFIX = 'jellyfin-failover/jellyfin/command';
const parse = (name: string, payload: string | Uint8Array, retained = false) =>
  parseCommand(
    PREFIX,
    `${PREFIX}/${name}`,
    typeof payload === 'string' ? Buffer.from(payload) : payload,
    retained,
  );

describe('command payloads', () => {
  it('runs an operation on PRESS, the payload of HA buttons, without force', () => {
    for (const op of ['sync', 'promote', 'failback', 'rollback'] as const) {
      expect(parse(op, 'PRESS')).toEqual({ kind: 'operation', operation: op, force: false, merge: false });
    }
    expect(parse('merge', 'PRESS')).toEqual({
      kind: 'operation',
      operation: 'sync',
      force: false,
      merge: true,
    });
  });

  it('accepts {"force":true}, {"force":false} and {} as JSON', () => {
    expect(parse('promote', '{"force":true}')).toEqual({
      kind: 'operation',
      operation: 'promote',
      force: true,
      merge: false,
    });
    expect(parse('sync', ' {"force": false}\n')).toEqual({
      kind: 'operation',
      operation: 'sync',
      force: false,
      merge: false,
    });
    expect(parse('failback', '{}')).toEqual({
      kind: 'operation',
      operation: 'failback',
      force: false,
      merge: false,
    });
  });

  it('treats check as a probe, not an operation', () => {
    expect(parse('check', 'PRESS')).toEqual({ kind: 'check' });
    expect(parse('check', '{"force":true}')).toEqual({ kind: 'check' });
  });

  it('ignores retained messages, even a valid press', () => {
    expect(parse('promote', 'PRESS', true).kind).toBe('ignored');
  });

  it('rejects unknown command names with the list of valid ones', () => {
    const r = parse('delete_everything', 'PRESS');
    expect(r).toMatchObject({ kind: 'rejected', command: 'delete_everything' });
    if (r.kind === 'rejected') for (const n of COMMAND_NAMES) expect(r.reason).toContain(n);
    expect(parse('sync/extra', 'PRESS').kind).toBe('rejected');
    expect(parse('', 'PRESS').kind).toBe('rejected');
  });

  it.each([
    ['empty', ''],
    ['lower-case press', 'press'],
    ['ON', 'ON'],
    ['JSON string', '"PRESS"'],
    ['JSON true', 'true'],
    ['JSON array', '[{"force":true}]'],
    ['force as a string', '{"force":"true"}'],
    ['force as 1', '{"force":1}'],
    ['unknown key', '{"force":true,"rm":"-rf"}'],
    ['broken JSON', '{"force":tru'],
    ['null', 'null'],
    ['prototype pollution', '{"__proto__":{"force":true}}'],
  ])('rejects a malformed payload: %s', (_label, payload) => {
    const r = parse('sync', payload);
    expect(r.kind).toBe('rejected');
    if (r.kind === 'rejected')
      expect(r.reason).toMatch(/^bad payload for sync: .*send PRESS or \{"force":true\}$/);
  });

  it('rejects invalid UTF-8 and oversized payloads without decoding them', () => {
    expect(parse('sync', new Uint8Array([0x50, 0xff, 0xfe])).kind).toBe('rejected');
    const big = Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 0x20);
    big.write('PRESS');
    const r = parse('sync', big);
    expect(r.kind === 'rejected' && r.reason).toContain('too long');
  });

  it('keeps untrusted text out of messages: control characters replaced, length capped', () => {
    const r = parse('x\u001b[31m'.padEnd(200, 'y'), 'PRESS');
    expect(r.kind).toBe('rejected');
    if (r.kind === 'rejected') {
      expect(r.command).not.toContain('\u001b');
      expect(r.command.length).toBeLessThanOrEqual(43);
    }
  });
});
