import { createHash, createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import ssh2, { type ClientChannel, type ConnectConfig } from 'ssh2';
import type { SshTarget } from '../../config/schema.js';
import type { ExecOptions, ExecResult, HostShell } from '../../domain/ports.js';
import { HostUnreachableError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { EXIT_ABORTED, EXIT_TIMED_OUT } from './local.js';
import { quoteArgv } from './quote.js';

const { Client, utils } = ssh2;
type SshClient = InstanceType<typeof Client>;

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** A silent peer is given up after 4 unanswered keepalives 15 s apart. */
const KEEPALIVE_INTERVAL_MS = 15_000;
const KEEPALIVE_COUNT_MAX = 4;
/** The exit code OpenSSH's client reports when the remote command died from a signal or the link failed. */
const EXIT_SIGNALLED = 255;

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

export interface SshShellOptions extends PinnedSshSettings {
  logger?: Logger;
}

/** `user@host:port` (`user@[v6]:port`), the way messages name an SSH host. */
export function sshLabel(target: SshTarget): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `${target.user}@${host}:${target.port}`;
}

// ---------------------------------------------------------------------------------------------------------------
// known_hosts

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
function hostKeyAlgorithms(keyType: string): string[] {
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

// ---------------------------------------------------------------------------------------------------------------
// Connection settings and errors, shared by SshShell and Docker over SSH

export interface PreparedSshConnection {
  config: ConnectConfig;
  /** Set once the host verifier refused the presented key. */
  refusal(): Extract<HostKeyVerdict, { ok: false }> | null;
}

function keyScanCommand(settings: PinnedSshSettings): string {
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

// ---------------------------------------------------------------------------------------------------------------
// The shell

/**
 * Runs programs on a site over SSH. Connects on the first command and keeps the connection for the next ones
 * (a dropped connection is replaced on the next command). Each argument array is quoted by `quoteArgv`, the one
 * place an argv becomes a remote command line (see `remoteCommandLine`; the remote login shell must be a POSIX
 * shell: sh, bash, dash, ash, zsh). Key authentication only; the host key must be the one pinned in known_hosts.
 * Connection failures reject with `HostUnreachableError`; a command's exit code, whatever it is, resolves, and a
 * timed-out or aborted command is killed on the host (124 / 130).
 */
export class SshShell implements HostShell {
  readonly isLocal = false;
  private client: SshClient | null = null;
  private pending: Promise<SshClient> | null = null;
  private readonly open = new Set<SshClient>();

  constructor(private readonly options: SshShellOptions) {}

  get label(): string {
    return sshLabel(this.options.target);
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const command = remoteCommandLine(argv);
    const name = argv[0] ?? '';
    if (options.signal?.aborted) return aborted(name, this.label, '', '');
    const reused = this.client !== null;
    const client = await this.connect();
    let channel: ClientChannel;
    let used = client;
    try {
      channel = await openExecChannel(client, command);
    } catch (err) {
      if (!reused) throw this.channelError(err, name);
      // The kept connection went stale between commands: the command never started, so retrying is safe.
      this.options.logger?.debug({ host: this.label, err }, 'SSH connection went stale, reconnecting');
      this.discard(client);
      used = await this.connect();
      try {
        channel = await openExecChannel(used, command);
      } catch (retryErr) {
        throw this.channelError(retryErr, name);
      }
    }
    return this.run(used, channel, name, options);
  }

  /** Opens a stream to a Unix socket on the host (OpenSSH streamlocal forwarding), over the kept connection. */
  async forwardUnixSocket(socketPath: string): Promise<Duplex> {
    const client = await this.connect();
    return new Promise<Duplex>((resolve, reject) => {
      try {
        client.openssh_forwardOutStreamLocal(socketPath, (err, stream) => {
          if (err) {
            reject(
              new HostUnreachableError(
                this.label,
                'refused',
                `cannot open ${socketPath} through SSH (${err.message})`,
                `Check that ${socketPath} exists on the host, that ${this.options.target.user} may use it, and that sshd allows AllowStreamLocalForwarding`,
                { cause: err },
              ),
            );
          } else resolve(stream);
        });
      } catch (err) {
        reject(this.channelError(err, socketPath));
      }
    });
  }

  async close(): Promise<void> {
    const pending = this.pending;
    if (pending !== null) await pending.catch(() => undefined);
    const clients = [...this.open];
    this.client = null;
    await Promise.all(
      clients.map(
        (client) =>
          new Promise<void>((resolve) => {
            if (!this.open.has(client)) return resolve();
            client.once('close', () => resolve());
            client.end();
          }),
      ),
    );
  }

  private connect(): Promise<SshClient> {
    if (this.client) return Promise.resolve(this.client);
    if (this.pending !== null) return this.pending;
    const attempt = this.openConnection().finally(() => {
      if (this.pending === attempt) this.pending = null;
    });
    this.pending = attempt;
    return attempt;
  }

  private async openConnection(): Promise<SshClient> {
    const prepared = await prepareSshConnection(this.options);
    const log = this.options.logger;
    const client = new Client();
    return new Promise<SshClient>((resolve, reject) => {
      let ready = false;
      client.on('ready', () => {
        ready = true;
        this.client = client;
        log?.debug({ host: this.label }, 'SSH connected');
        resolve(client);
      });
      client.on('error', (err) => {
        if (!ready) reject(sshConnectionError(this.options, err, prepared.refusal()));
        else log?.warn({ host: this.label, err: err.message }, 'SSH connection error');
      });
      client.on('close', () => {
        this.open.delete(client);
        if (this.client === client) this.client = null;
        if (ready) log?.debug({ host: this.label }, 'SSH connection closed');
        else
          reject(
            sshConnectionError(
              this.options,
              new Error('the connection closed before the SSH handshake finished'),
              prepared.refusal(),
            ),
          );
      });
      this.open.add(client);
      try {
        client.connect(prepared.config);
      } catch (err) {
        this.open.delete(client);
        reject(sshConnectionError(this.options, err, null));
      }
    });
  }

  private discard(client: SshClient): void {
    if (this.client === client) this.client = null;
    client.end();
  }

  private channelError(err: unknown, name: string): HostUnreachableError {
    if (err instanceof HostUnreachableError) return err;
    return new HostUnreachableError(
      this.label,
      'dropped',
      `could not start ${name}: ${(err as Error)?.message ?? String(err)}`,
      'Check the host and its sshd (MaxSessions), then retry',
      { cause: err },
    );
  }

  private run(
    client: SshClient,
    channel: ClientChannel,
    name: string,
    options: ExecOptions,
  ): Promise<ExecResult> {
    const label = this.label;
    return new Promise<ExecResult>((resolve, reject) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const pid = new PidReport();
      const text = () => ({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: pid.strip(Buffer.concat(err).toString('utf8')),
      });
      const onStdout = options.onStdout;
      const decoder = onStdout ? new StringDecoder('utf8') : null;
      let exit: { code: number } | { signal: string; description: string } | null = null;
      let settled = false;
      let stopping = false;
      let timer: NodeJS.Timeout | undefined;

      const settle = (outcome: ExecResult | HostUnreachableError) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (outcome instanceof HostUnreachableError) reject(outcome);
        else resolve(outcome);
      };
      /** Kills the remote command and its children, then settles with `exitCode` and a note. */
      const stop = (exitCode: number, note: string) => {
        if (settled || stopping) return;
        stopping = true;
        void this.killRemote(client, channel, pid).finally(() => {
          try {
            channel.close();
          } catch {
            // already closed
          }
          const { stdout, stderr } = text();
          settle({ exitCode, stdout, stderr: `${stderr}[jellyfin-failover] ${name} on ${label} ${note}\n` });
        });
      };
      const onAbort = () => stop(EXIT_ABORTED, 'was aborted');

      channel.on('data', (chunk: Buffer) => {
        out.push(chunk);
        if (decoder && onStdout) {
          const piece = decoder.write(chunk);
          if (piece !== '') onStdout(piece);
        }
      });
      channel.stderr.on('data', (chunk: Buffer) => {
        err.push(chunk);
        // The report comes first, after whatever the login shell's rc files print; stop looking after 64 KiB.
        if (pid.value === null && err.length < 256)
          pid.scan(Buffer.concat(err).toString('latin1').slice(0, 65_536));
      });
      channel.on('exit', (code: number | null, signal?: string, _dump?: boolean, description?: string) => {
        exit =
          typeof code === 'number'
            ? { code }
            : { signal: signal ?? 'unknown signal', description: description ?? '' };
      });
      channel.on('error', () => {
        // reported through 'close' without an exit status
      });
      channel.on('close', () => {
        pid.end();
        if (stopping) return;
        const done = () => {
          if (decoder && onStdout) {
            const rest = decoder.end();
            if (rest !== '') onStdout(rest);
          }
          const { stdout, stderr } = text();
          if (exit === null) {
            settle(
              new HostUnreachableError(
                label,
                'dropped',
                `the SSH connection dropped while ${name} was running (it may or may not have finished, and may still be running there)`,
                'Check the host and the network, then retry',
              ),
            );
          } else if ('code' in exit) {
            settle({ exitCode: exit.code, stdout, stderr });
          } else {
            const why = exit.description ? `: ${exit.description}` : '';
            settle({
              exitCode: EXIT_SIGNALLED,
              stdout,
              stderr: `${stderr}[jellyfin-failover] ${name} on ${label} was killed by ${exit.signal}${why}\n`,
            });
          }
        };
        // The exit status can be handled a moment after the close under load: give it that moment before
        // calling the connection dropped.
        const finish = () => {
          if (exit !== null) return done();
          const late = setTimeout(done, 250);
          channel.once('exit', () => {
            clearTimeout(late);
            setImmediate(done);
          });
        };
        if (channel.stderr.readableEnded || channel.stderr.destroyed) finish();
        else channel.stderr.once('end', finish);
      });

      if (options.timeoutMs !== undefined) {
        const ms = options.timeoutMs;
        timer = setTimeout(() => stop(EXIT_TIMED_OUT, `timed out after ${ms} ms and was stopped`), ms);
      }
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.input === undefined) channel.end();
      else channel.end(options.input);
    });
  }

  /**
   * Stops a remote command. Closing its channel is not enough (sshd only detaches from it), and sshd refuses
   * `signal` requests in root sessions, so the command's process group is killed with a second command, using the
   * PID the command line reported. The signal request is sent as well, for servers that honour it.
   */
  private async killRemote(client: SshClient, channel: ClientChannel, report: PidReport): Promise<void> {
    sendSignal(channel, 'KILL');
    // Stopped before the command started (the login shell still reading its rc files): wait for it to start.
    const pid = await report.wait(KILL_WAIT_MS);
    if (pid === null) return;
    const group = String(pid);
    try {
      const killer = await openExecChannel(
        client,
        `kill -s KILL -- -${group} 2>/dev/null || kill -s KILL ${group} 2>/dev/null; exit 0`,
      );
      killer.on('data', () => undefined);
      killer.stderr.on('data', () => undefined);
      killer.end();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, KILL_WAIT_MS);
        killer.on('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    } catch (err) {
      this.options.logger?.warn(
        { host: this.label, pid, err: (err as Error)?.message },
        'could not kill a timed-out or aborted remote command',
      );
    }
  }
}

function aborted(name: string, label: string, stdout: string, stderr: string): ExecResult {
  return {
    exitCode: EXIT_ABORTED,
    stdout,
    stderr: `${stderr}[jellyfin-failover] ${name} on ${label} was aborted\n`,
  };
}

/** Marks the line in which the remote shell reports the command's PID on stderr (removed from the result). */
const PID_MARK = 'jellyfin-failover-pid:';
const KILL_WAIT_MS = 5_000;

/**
 * The command line sent to the remote login shell: report the shell's PID on stderr, then `exec` the quoted argv
 * in place of the shell, so that PID is the command's (and, sshd having called setsid, its process group's).
 */
export function remoteCommandLine(argv: readonly string[]): string {
  return `echo ${PID_MARK}$$ >&2; exec ${quoteArgv(argv)}`;
}

/** Picks the PID report out of the remote stderr, and removes it from what the caller sees. */
class PidReport {
  value: number | null = null;
  private static readonly pattern = new RegExp(`${PID_MARK}(\\d+)\\n`);
  private waiters: Array<(pid: number | null) => void> = [];

  scan(stderr: string): void {
    const match = PidReport.pattern.exec(stderr);
    if (!match?.[1]) return;
    this.value = Number(match[1]);
    for (const wake of this.waiters.splice(0)) wake(this.value);
  }

  /** The PID, once the remote shell has reported it (after its rc files ran), or null after `ms`. */
  wait(ms: number): Promise<number | null> {
    if (this.value !== null) return Promise.resolve(this.value);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.value), ms);
      this.waiters.push((pid) => {
        clearTimeout(timer);
        resolve(pid);
      });
    });
  }

  /** No report will come (the channel closed). */
  end(): void {
    for (const wake of this.waiters.splice(0)) wake(this.value);
  }

  strip(stderr: string): string {
    return stderr.replace(PidReport.pattern, '');
  }
}

interface ChannelInternals {
  outgoing?: { id?: number; state?: string };
  _client?: { _protocol?: { signal?: (id: number, signal: string) => void } };
}

/**
 * Sends an SSH `signal` request for the remote command. ssh2's `channel.signal()` sends nothing once stdin has been
 * closed (it checks `writable`), and stdin is always closed here, so the request goes through ssh2's protocol object
 * while the channel is open. OpenSSH honours it only in privilege-separated (non-root) sessions.
 */
function sendSignal(channel: ClientChannel, name: string): void {
  const internals = channel as unknown as ChannelInternals;
  const id = internals.outgoing?.id;
  const protocol = internals._client?._protocol;
  try {
    if (channel.writable) channel.signal(name);
    else if (
      typeof id === 'number' &&
      (internals.outgoing?.state === 'open' || internals.outgoing?.state === 'eof') &&
      protocol?.signal
    ) {
      protocol.signal(id, name);
    }
  } catch {
    // the connection is going away; nothing left to signal
  }
}

function openExecChannel(client: SshClient, command: string): Promise<ClientChannel> {
  return new Promise<ClientChannel>((resolve, reject) => {
    try {
      client.exec(command, (err, channel) => (err ? reject(err) : resolve(channel)));
    } catch (err) {
      reject(err);
    }
  });
}
