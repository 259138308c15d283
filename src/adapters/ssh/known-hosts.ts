/**
 * OpenSSH known_hosts, read the way `StrictHostKeyChecking=yes` reads it: patterns, negations, hashed entries,
 * @revoked and @cert-authority markers. Pure functions; the connection (connection.ts) asks them whether the key a
 * server presents is the pinned one (SPEC 4 rule 9).
 */
import { createHash, createHmac } from 'node:crypto';

export interface KnownHostKey {
  marker: 'revoked' | 'cert-authority' | null;
  /** The host field as written: a comma list of patterns, or one hashed `|1|salt|hash` entry. */
  hosts: string;
  keyType: string;
  /** The raw public key blob (base64-decoded), as the server presents it during key exchange. */
  key: Buffer;
}

/** Parses OpenSSH known_hosts text; comments, blank and malformed lines are skipped. */
export function parseKnownHosts(text: string): KnownHostKey[] {
  const entries: KnownHostKey[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker: KnownHostKey['marker'] = null;
    if (fields[0]?.startsWith('@')) {
      const word = fields.shift();
      if (word === '@revoked') marker = 'revoked';
      else if (word === '@cert-authority') marker = 'cert-authority';
      else continue;
    }
    const [hosts, keyType, base64] = fields;
    if (!hosts || !keyType || !base64 || !/^[A-Za-z0-9+/]+=*$/.test(base64)) continue;
    const key = Buffer.from(base64, 'base64');
    if (key.length === 0) continue;
    entries.push({ marker, hosts, keyType, key });
  }
  return entries;
}

/** The names OpenSSH looks a host up by: `host` on port 22, `[host]:port` otherwise. */
function lookupNames(host: string, port: number): string[] {
  const h = host.toLowerCase();
  return port === 22 ? [h, `[${h}]:22`] : [`[${h}]:${port}`];
}

function globMatch(pattern: string, name: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll('?', '.');
  return new RegExp(`^${source}$`).test(name);
}

/** `|1|salt|hash`: HMAC-SHA1 of the name keyed with the salt, as `ssh-keyscan -H` and HashKnownHosts write. */
function hashedMatch(entry: string, name: string): boolean {
  const [, kind, salt, hash] = entry.split('|');
  if (kind !== '1' || !salt || !hash) return false;
  const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
  return digest === hash;
}

/** Whether a known_hosts host field names this host and port (patterns, negations, hashed entries). */
export function knownHostMatches(hosts: string, host: string, port: number): boolean {
  const names = lookupNames(host, port);
  if (hosts.startsWith('|')) return names.some((n) => hashedMatch(hosts, n));
  let matched = false;
  for (const raw of hosts.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (pattern === '' || !names.some((n) => globMatch(pattern, n))) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** `SHA256:...`, as `ssh-keygen -l` and the OpenSSH client print a key's fingerprint. */
export function keyFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type a raw public key blob starts with, e.g. `ssh-ed25519`. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const length = blob.readUInt32BE(0);
  if (length > 64 || blob.length < 4 + length) return 'unknown';
  return blob.subarray(4, 4 + length).toString('latin1');
}

export type HostKeyVerdict =
  | { ok: true }
  | {
      ok: false;
      kind: 'unknown' | 'changed' | 'revoked';
      presentedType: string;
      presentedFingerprint: string;
      /** Fingerprints of the keys known_hosts pins for this host. */
      pinned: string[];
    };

/** Checks the key a server presented against known_hosts, as OpenSSH's StrictHostKeyChecking=yes does. */
export function verifyHostKey(
  entries: KnownHostKey[],
  host: string,
  port: number,
  presented: Buffer,
): HostKeyVerdict {
  const matching = entries.filter((e) => knownHostMatches(e.hosts, host, port));
  const refusal = (kind: 'unknown' | 'changed' | 'revoked', pinned: KnownHostKey[]): HostKeyVerdict => ({
    ok: false,
    kind,
    presentedType: keyTypeOf(presented),
    presentedFingerprint: keyFingerprint(presented),
    pinned: pinned.map((e) => `${e.keyType} ${keyFingerprint(e.key)}`),
  });
  // A revoked key is refused for any host, whatever the host field says.
  if (entries.some((e) => e.marker === 'revoked' && e.key.equals(presented))) return refusal('revoked', []);
  const pinned = matching.filter((e) => e.marker === null);
  if (pinned.some((e) => e.key.equals(presented))) return { ok: true };
  return refusal(pinned.length > 0 ? 'changed' : 'unknown', pinned);
}

/** ssh2 host key algorithm names for a known_hosts key type. */
export function hostKeyAlgorithms(keyType: string): string[] {
  switch (keyType) {
    case 'ssh-rsa':
      return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
    case 'ssh-ed25519':
    case 'ecdsa-sha2-nistp256':
    case 'ecdsa-sha2-nistp384':
    case 'ecdsa-sha2-nistp521':
    case 'ssh-dss':
      return [keyType];
    default:
      return [];
  }
}
