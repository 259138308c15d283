/**
 * SSH logins and host keys as the add-on options give them: `user@host[:port]`, and each site's pinned host public
 * key, checked here and written as the known_hosts lines the service trusts. Pure, like the rest of src/addon.
 */

/** `user@host[:port]`: the user, the host (IPv6 in brackets), the port. */
export const SSH_TARGET = /^([a-z_][a-z0-9_.-]*)@(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/;

export interface HostKey {
  type: string;
  /** base64 of the key blob. */
  blob: string;
}

const HOST_KEY_TYPES = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
];

/**
 * A site's public host key as the user pastes it: the `.pub` line of the site (`ssh-ed25519 AAAA... root@tower`)
 * or a known_hosts / ssh-keyscan line (`192.168.1.11 ssh-ed25519 AAAA...`). The blob is decoded and must name the
 * same key type, which catches a truncated or mixed-up paste.
 */
export function parseHostKey(text: string): HostKey | string {
  const tokens = text.trim().split(/\s+/);
  const at = HOST_KEY_TYPES.includes(tokens[0] ?? '') ? 0 : HOST_KEY_TYPES.includes(tokens[1] ?? '') ? 1 : -1;
  const type = tokens[at];
  const blob = tokens[at + 1];
  if (at < 0 || type === undefined || blob === undefined) {
    return `must be the site's SSH host public key, e.g. the line of /etc/ssh/ssh_host_ed25519_key.pub on that machine ("ssh-ed25519 AAAA... root@host"); key types: ${HOST_KEY_TYPES.join(', ')}`;
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob))
    return `the key after ${type} is not base64: paste the whole line`;
  const fields = sshStrings(Buffer.from(blob, 'base64'));
  // ssh-ed25519: name, 32-byte key; ecdsa: name, curve, point; ssh-rsa: name, e, n (RFC 4253, RFC 5656, RFC 8709).
  const complete =
    fields !== null &&
    fields[0]?.toString() === type &&
    (type === 'ssh-ed25519' ? fields.length === 2 && fields[1]?.length === 32 : fields.length === 3);
  if (!complete) {
    return `the key data does not hold a whole ${type} key (it is cut or mixed up): paste the whole line again`;
  }
  return { type, blob };
}

/** Splits an SSH wire-format blob into its length-prefixed strings; null when it does not split exactly. */
function sshStrings(raw: Buffer): Buffer[] | null {
  const out: Buffer[] = [];
  let at = 0;
  while (at < raw.length) {
    if (at + 4 > raw.length) return null;
    const length = raw.readUInt32BE(at);
    if (at + 4 + length > raw.length) return null;
    out.push(raw.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return out;
}

/** The known_hosts line that pins `key` for the host of `sshTarget` (`[host]:port` when the port is not 22). */
export function knownHostsLine(sshTarget: string, key: HostKey): string {
  const m = SSH_TARGET.exec(sshTarget);
  const host = (m?.[2] ?? '').replace(/^\[|\]$/g, '');
  const port = m?.[3] ? Number(m[3]) : 22;
  return `${port === 22 ? host : `[${host}]:${port}`} ${key.type} ${key.blob}\n`;
}
