import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  keyFingerprint,
  keyTypeOf,
  knownHostMatches,
  parseKnownHosts,
  verifyHostKey,
} from '../../../src/adapters/ssh/known-hosts.js';

/** An SSH public key blob: string type, then key bytes (the shape the server presents). */
function blob(type: string, seed: string): Buffer {
  const t = Buffer.from(type);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  return Buffer.concat([len, t, createHash('sha256').update(seed).digest()]);
}

const ED = blob('ssh-ed25519', 'a');
const OTHER = blob('ssh-ed25519', 'b');
const line = (hosts: string, key: Buffer, marker = '') =>
  `${marker ? `${marker} ` : ''}${hosts} ${keyTypeOf(key)} ${key.toString('base64')}`;

describe('known_hosts parsing', () => {
  it('reads entries, markers and key blobs; skips comments, blank and malformed lines', () => {
    const entries = parseKnownHosts(
      [
        '# a comment',
        '',
        line('host1,10.0.0.1', ED),
        line('*.lan', OTHER, '@revoked'),
        line('ca.example', ED, '@cert-authority'),
        '@unknown-marker host3 ssh-ed25519 AAAA',
        'host4 ssh-ed25519 not*base64',
        'host5 ssh-ed25519',
      ].join('\n'),
    );
    expect(entries.map((e) => [e.marker, e.hosts, e.keyType])).toEqual([
      [null, 'host1,10.0.0.1', 'ssh-ed25519'],
      ['revoked', '*.lan', 'ssh-ed25519'],
      ['cert-authority', 'ca.example', 'ssh-ed25519'],
    ]);
    expect(entries[0]?.key.equals(ED)).toBe(true);
  });

  it('matches host names as OpenSSH does: port 22 bare or bracketed, other ports bracketed only', () => {
    expect(knownHostMatches('host1', 'host1', 22)).toBe(true);
    expect(knownHostMatches('[host1]:22', 'host1', 22)).toBe(true);
    expect(knownHostMatches('host1', 'host1', 2222)).toBe(false);
    expect(knownHostMatches('[host1]:2222', 'host1', 2222)).toBe(true);
    expect(knownHostMatches('HOST1', 'host1', 22)).toBe(true);
  });

  it('matches wildcards and comma lists, and a negation wins over a match', () => {
    expect(knownHostMatches('a,*.lan', 'nas.lan', 22)).toBe(true);
    expect(knownHostMatches('192.168.1.?', '192.168.1.7', 22)).toBe(true);
    expect(knownHostMatches('*.lan,!evil.lan', 'evil.lan', 22)).toBe(false);
    expect(knownHostMatches('*.lan', 'lan', 22)).toBe(false);
  });

  it('matches hashed entries (ssh-keyscan -H)', () => {
    const salt = Buffer.from('0123456789abcdefghij');
    const hash = createHmac('sha1', salt).update('[10.0.0.2]:2222').digest('base64');
    const hashed = `|1|${salt.toString('base64')}|${hash}`;
    expect(knownHostMatches(hashed, '10.0.0.2', 2222)).toBe(true);
    expect(knownHostMatches(hashed, '10.0.0.2', 22)).toBe(false);
  });
});

describe('host key verification', () => {
  const entries = parseKnownHosts([line('host1', ED), line('*', OTHER, '@revoked')].join('\n'));

  it('accepts the pinned key', () => {
    expect(verifyHostKey(entries, 'host1', 22, ED)).toEqual({ ok: true });
  });

  it('calls another key for a pinned host changed, and names both fingerprints', () => {
    const third = blob('ssh-ed25519', 'c');
    const v = verifyHostKey(entries, 'host1', 22, third);
    expect(v).toMatchObject({ ok: false, kind: 'changed', presentedFingerprint: keyFingerprint(third) });
    expect(v.ok === false && v.pinned).toEqual([`ssh-ed25519 ${keyFingerprint(ED)}`]);
  });

  it('calls a key for a host with no pin unknown, and a revoked key revoked whatever the host', () => {
    expect(verifyHostKey(entries, 'host2', 22, ED)).toMatchObject({ ok: false, kind: 'unknown' });
    expect(verifyHostKey(entries, 'host1', 22, OTHER)).toMatchObject({ ok: false, kind: 'revoked' });
  });

  it('prints fingerprints as ssh-keygen -l does', () => {
    const expected = `SHA256:${createHash('sha256').update(ED).digest('base64').replace(/=+$/, '')}`;
    expect(keyFingerprint(ED)).toBe(expected);
    expect(keyTypeOf(ED)).toBe('ssh-ed25519');
    expect(keyTypeOf(Buffer.from([0, 0]))).toBe('unknown');
  });
});
