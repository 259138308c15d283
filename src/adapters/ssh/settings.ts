/**
 * What a pinned, key-only SSH connection needs (SPEC 4 rule 9), read from the key and known_hosts files each time
 * a connection is opened (so a fixed file is used without a restart), and the plain-language errors of a failed
 * connection.
 */
import { readFile } from 'node:fs/promises';
import ssh2, { type ConnectConfig } from 'ssh2';
import type { SshTarget } from '../../config/schema.js';
import { HostUnreachableError } from '../../domain/errors.js';
import {
  type HostKeyVerdict,
  hostKeyAlgorithms,
  knownHostMatches,
  parseKnownHosts,
  verifyHostKey,
} from './known-hosts.js';

const { utils } = ssh2;

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** A silent peer is given up after 4 unanswered keepalives 15 s apart. */
const KEEPALIVE_INTERVAL_MS = 15_000;
const KEEPALIVE_COUNT_MAX = 4;

/** Everything needed to open a pinned, key-only SSH connection (SPEC 4 rule 9). */
export interface PinnedSshSettings {
  target: SshTarget;
  /** Private key (no passphrase): `SSH_KEY_FILE`. */
  keyFile: string;
  /** OpenSSH known_hosts holding the host's key: `SSH_KNOWN_HOSTS_FILE`. */
  knownHostsFile: string;
  /** TCP connect plus SSH handshake and authentication; default 10 s. */
  connectTimeoutMs?: number;
}

/** `user@host:port` (`user@[v6]:port`), the way messages name an SSH host. */
export function sshLabel(target: SshTarget): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `${target.user}@${host}:${target.port}`;
}

export interface PreparedSshConnection {
  config: ConnectConfig;
  /** Set once the host verifier refused the presented key. */
  refusal(): Extract<HostKeyVerdict, { ok: false }> | null;
}

export function keyScanCommand(settings: PinnedSshSettings): string {
  const { host, port } = settings.target;
  return `ssh-keyscan${port === 22 ? '' : ` -p ${port}`} ${host} >> ${settings.knownHostsFile}`;
}

/**
 * Reads the key and known_hosts (each time, so a fixed file is used without a restart) and builds an ssh2 config
 * that authenticates with that key only (no password, keyboard-interactive or agent) and accepts only the host key
 * known_hosts pins for `host:port`.
 */
export async function prepareSshConnection(settings: PinnedSshSettings): Promise<PreparedSshConnection> {
  const label = sshLabel(settings.target);
  let privateKey: Buffer;
  try {
    privateKey = await readFile(settings.keyFile);
  } catch (err) {
    throw new HostUnreachableError(
      label,
      'key-file',
      `cannot read the SSH key ${settings.keyFile} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      'Point SSH_KEY_FILE at a readable private key',
      { cause: err },
    );
  }
  const parsed = utils.parseKey(privateKey);
  if (parsed instanceof Error) {
    throw new HostUnreachableError(
      label,
      'key-file',
      `cannot use the SSH key ${settings.keyFile}: ${parsed.message}`,
      'Use a dedicated private key without a passphrase (ssh-keygen -t ed25519 -N "" -f <file>)',
      { cause: parsed },
    );
  }
  let knownHostsText: string;
  try {
    knownHostsText = await readFile(settings.knownHostsFile, 'utf8');
  } catch (err) {
    throw new HostUnreachableError(
      label,
      'host-key',
      `cannot read the known_hosts file ${settings.knownHostsFile} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      `Create it with \`${keyScanCommand(settings)}\` and check the fingerprint (SSH_KNOWN_HOSTS_FILE)`,
      { cause: err },
    );
  }
  const entries = parseKnownHosts(knownHostsText);
  const { host, port, user } = settings.target;
  // Offer only the key types pinned for this host, as OpenSSH does, so a server with several host keys presents
  // the one known_hosts holds instead of being refused for showing another.
  const pinnedTypes = entries
    .filter((e) => e.marker === null && knownHostMatches(e.hosts, host, port))
    .flatMap((e) => hostKeyAlgorithms(e.keyType));
  const serverHostKey = [...new Set(pinnedTypes)];

  let refusal: Extract<HostKeyVerdict, { ok: false }> | null = null;
  const config: ConnectConfig = {
    host,
    port,
    username: user,
    privateKey,
    authHandler: ['publickey'],
    tryKeyboard: false,
    readyTimeout: settings.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    keepaliveInterval: KEEPALIVE_INTERVAL_MS,
    keepaliveCountMax: KEEPALIVE_COUNT_MAX,
    hostVerifier: (key: Buffer): boolean => {
      const verdict = verifyHostKey(entries, host, port, key);
      if (verdict.ok) return true;
      refusal = verdict;
      return false;
    },
    ...(serverHostKey.length > 0 ? { algorithms: { serverHostKey: serverHostKey as never } } : {}),
  };
  return { config, refusal: () => refusal };
}

interface SshErrorShape {
  level?: string;
  code?: string;
  message?: string;
}

/** Turns an ssh2/socket failure into a message naming the host and saying what to do. */
export function sshConnectionError(
  settings: PinnedSshSettings,
  err: unknown,
  refusal: Extract<HostKeyVerdict, { ok: false }> | null,
): HostUnreachableError {
  const label = sshLabel(settings.target);
  const { host, port, user } = settings.target;
  if (err instanceof HostUnreachableError) return err;
  if (refusal) {
    const presented = `${refusal.presentedType} ${refusal.presentedFingerprint}`;
    switch (refusal.kind) {
      case 'unknown':
        return new HostUnreachableError(
          label,
          'host-key',
          `host key refused: ${settings.knownHostsFile} has no key for ${host} port ${port} (the server presented ${presented})`,
          `If that fingerprint is right (check on the host with \`ssh-keygen -lf /etc/ssh/ssh_host_${refusal.presentedType.replace(/^ssh-|-.*$/g, '')}_key.pub\`), pin it: \`${keyScanCommand(settings)}\``,
          { cause: err },
        );
      case 'changed':
        return new HostUnreachableError(
          label,
          'host-key',
          `host key refused: the server presented ${presented}, but ${settings.knownHostsFile} pins ${refusal.pinned.join(', ')} for ${host} port ${port}. The host was reinstalled or re-keyed, or someone is intercepting the connection`,
          `If the change is expected, remove the old key (\`ssh-keygen -R '${port === 22 ? host : `[${host}]:${port}`}' -f ${settings.knownHostsFile}\`) and pin the new one: \`${keyScanCommand(settings)}\``,
          { cause: err },
        );
      case 'revoked':
        return new HostUnreachableError(
          label,
          'host-key',
          `host key refused: the server presented ${presented}, which ${settings.knownHostsFile} marks @revoked`,
          'Give the host a new host key and pin it in the known_hosts file',
          { cause: err },
        );
    }
  }
  const e = (err ?? {}) as SshErrorShape;
  const detail = e.message ?? String(err);
  if (e.level === 'client-authentication') {
    return new HostUnreachableError(
      label,
      'auth',
      `the server refused the key ${settings.keyFile} for user ${user} (${detail})`,
      `Add ${settings.keyFile}.pub to ~${user}/.ssh/authorized_keys on ${host}`,
      { cause: err },
    );
  }
  if (e.level === 'client-timeout' || e.code === 'ETIMEDOUT') {
    return new HostUnreachableError(
      label,
      'timeout',
      `no SSH connection within ${settings.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS} ms`,
      `Check that ${host} is up and that port ${port} is reachable from here`,
      { cause: err },
    );
  }
  if (e.code === 'ECONNREFUSED') {
    return new HostUnreachableError(
      label,
      'refused',
      `connection refused on port ${port}`,
      `Check that sshd runs on ${host} and listens on port ${port} (the port is part of MASTER_SSH/SLAVE_SSH)`,
      { cause: err },
    );
  }
  if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') {
    return new HostUnreachableError(
      label,
      'network',
      `cannot resolve ${host} (${e.code})`,
      'Check the host name in MASTER_SSH/SLAVE_SSH, or use an IP address',
      { cause: err },
    );
  }
  if (e.level === 'handshake' && /host key/i.test(detail)) {
    return new HostUnreachableError(
      label,
      'host-key',
      `the server offers none of the host key types pinned in ${settings.knownHostsFile} (${detail})`,
      `Pin the key the server has: \`${keyScanCommand(settings)}\`, and check the fingerprint`,
      { cause: err },
    );
  }
  return new HostUnreachableError(
    label,
    'network',
    `SSH connection failed: ${detail}`,
    `Check that ${host} is up and reachable on port ${port}`,
    { cause: err },
  );
}
