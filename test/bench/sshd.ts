/**
 * A throwaway OpenSSH server for one test: its own host key, its own authorized client key, its own
 * loopback address and port, and a known_hosts file that pins exactly that host key. Nothing here
 * touches ~/.ssh or /etc/ssh beyond the privilege-separation directory sshd insists on.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';

const SSHD = '/usr/sbin/sshd';
const PRIVSEP_DIR = '/run/sshd';
const READY_TIMEOUT_MS = 15_000;
const STDERR_TAIL_CHARS = 8_000;

export interface SshdHandle {
  /** Loopback address sshd listens on, `127.0.0.x`. */
  readonly address: string;
  readonly port: number;
  readonly user: typeof BENCH_USER;
  /** Private key authorized for the bench user (no passphrase). */
  readonly clientKeyFile: string;
  /** known_hosts pinning this server's host key for `[address]:port` (and `address` when port is 22). */
  readonly knownHostsFile: string;
  /** Host key public line, `ssh-ed25519 AAAA...`, for clients (ssh2) that verify keys themselves. */
  readonly hostPublicKey: string;
  /** `SHA256:...` fingerprint of the host key, as `ssh-keygen -l` prints it. */
  readonly hostKeyFingerprint: string;
  /** `jfbench@127.0.0.x:port`, the SPEC `MASTER_SSH`/`SLAVE_SSH` format. */
  readonly sshTarget: string;
  /** Directory holding keys, config and logs; removed by `stop()`. */
  readonly dir: string;
  /** ssh client options (before the destination) for this server: key only, batch mode, pinned host key. */
  sshArgs(overrides?: { identityFile?: string; knownHostsFile?: string }): string[];
  /** The same options as one rsync `-e` value (quoted the way rsync splits it, no shell involved). */
  rsyncRsh(overrides?: { identityFile?: string; knownHostsFile?: string }): string;
  /** Writes a known_hosts that pins a different, freshly generated key for this host; returns its path. */
  wrongHostKnownHosts(): Promise<string>;
  /** The last lines sshd logged (it runs with `-e`), for failure messages. */
  log(): string;
  /** Terminates sshd and its sessions, removes the directory. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILLs sshd and every session process under it at once (a dropped connection). */
  kill(): Promise<void>;
  /** Starts sshd again on the same address, port and host key (after `kill()`, or to cycle it). */
  restart(): Promise<void>;
}

export interface StartSshdOptions {
  /** Default: a loopback address `127.0.0.x`, x in 2..250, different for each call of this process. */
  address?: string;
  /**
   * Programs this "host" does not have: sessions run with a PATH of links to everything else (e.g. `sqlite3`,
   * which Unraid does not ship).
   */
  hideCommands?: string[];
  /** Default: a port found free on that address. */
  port?: number;
  /**
   * The client key this sshd authorizes (default: a fresh one). Several sshd "hosts" that all know one service's
   * key: the topology of a service on a third machine.
   */
  clientKey?: KeyPair;
  /**
   * A network namespace (`ip netns add`) to run sshd in, e.g. a "host" behind a shaped veth link: sshd is started
   * with `ip netns exec <netns>`, so every session (rsync, docker dial-stdio, commands) runs there. Needs `address`,
   * an address of that namespace; the port defaults to 22 (a free port cannot be probed from outside it).
   */
  netns?: string;
  /** sshd's MaxSessions, sessions per connection (default 50; OpenSSH's own default is 10). */
  maxSessions?: number;
}

export interface KeyPair {
  privateKeyFile: string;
  publicKeyFile: string;
  /** `ssh-ed25519 AAAA... comment` */
  publicKey: string;
}

/** Generates an ed25519 key pair without a passphrase at `<dir>/<name>` and `<dir>/<name>.pub`. */
export async function generateKeyPair(dir: string, name: string): Promise<KeyPair> {
  const privateKeyFile = join(dir, name);
  await execa('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    `jellyfin-failover-bench-${name}`,
    '-f',
    privateKeyFile,
  ]);
  const publicKeyFile = `${privateKeyFile}.pub`;
  const publicKey = (await readFile(publicKeyFile, 'utf8')).trim();
  return { privateKeyFile, publicKeyFile, publicKey };
}

let addressCounter = 0;

/** Loopback addresses in 127.0.0.2..250; the start is offset by pid so parallel workers rarely share one. */
function nextAddress(): string {
  const x = ((process.pid + addressCounter++ * 7) % 249) + 2;
  return `127.0.0.${x}`;
}

function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: address, port: 0, exclusive: true }, () => {
      const bound = server.address();
      server.close(() => {
        if (bound !== null && typeof bound === 'object') resolve(bound.port);
        else reject(new Error(`could not read the port bound on ${address}`));
      });
    });
  });
}

/** Single-quotes an argument the way rsync's `-e` splitter understands (a doubled quote is a literal one). */
function rshQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "''")}'`;
}

function knownHostsLines(address: string, port: number, keyLine: string): string {
  const keyTypeAndBlob = keyLine.split(' ').slice(0, 2).join(' ');
  const hosts = port === 22 ? `${address},[${address}]:22` : `[${address}]:${port}`;
  return `${hosts} ${keyTypeAndBlob}\n`;
}

function sshdConfig(
  dir: string,
  address: string,
  port: number,
  options: { forceCommand?: string | undefined; maxSessions?: number | undefined },
): string {
  const { forceCommand, maxSessions = 50 } = options;
  return [
    ...(forceCommand ? [`ForceCommand ${forceCommand}`] : []),
    `ListenAddress ${address}:${port}`,
    `HostKey ${join(dir, 'ssh_host_ed25519_key')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    `AllowUsers ${BENCH_USER}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'HostbasedAuthentication no',
    'UsePAM no',
    // The key files sit under os.tmpdir(), whose mode (1777) StrictModes would reject.
    'StrictModes no',
    'PrintMotd no',
    'MaxStartups 100:30:200',
    `MaxSessions ${maxSessions}`,
    'LogLevel VERBOSE',
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n');
}

/** pid -> child pids, from /proc. */
async function childrenByParent(): Promise<Map<number, number[]>> {
  const map = new Map<number, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = await readFile(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // Fields after the `(comm)` that may itself contain spaces or parentheses: state ppid ...
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const siblings = map.get(ppid) ?? [];
    siblings.push(Number(entry));
    map.set(ppid, siblings);
  }
  return map;
}

async function descendants(pid: number): Promise<number[]> {
  const map = await childrenByParent();
  const found: number[] = [];
  const queue = [...(map.get(pid) ?? [])];
  while (queue.length > 0) {
    const next = queue.shift() as number;
    found.push(next);
    queue.push(...(map.get(next) ?? []));
  }
  return found;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * Freezes the whole tree (so nothing forks or reparents while it is collected), then SIGKILLs it.
 * sshd's connection and session processes call setsid(), so a process-group kill would miss them.
 */
async function killTree(rootPid: number): Promise<void> {
  signal(rootPid, 'SIGSTOP');
  let tree: number[] = [];
  for (;;) {
    const found = await descendants(rootPid);
    for (const pid of found) signal(pid, 'SIGSTOP');
    if (found.length === tree.length && found.every((pid) => tree.includes(pid))) break;
    tree = found;
  }
  signal(rootPid, 'SIGKILL');
  for (const pid of tree) signal(pid, 'SIGKILL');
}

function readBanner(address: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: address, port });
    let data = '';
    socket.setTimeout(2_000, () => socket.destroy(new Error('no banner within 2 s')));
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      const end = data.indexOf('\n');
      if (end >= 0) {
        socket.destroy();
        const line = data.slice(0, end).trim();
        if (line.startsWith('SSH-2.0-')) resolve(line);
        else reject(new Error(`unexpected banner ${JSON.stringify(line)}`));
      }
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the banner')));
  });
}

class BenchSshd implements SshdHandle {
  readonly user = BENCH_USER;
  readonly sshTarget: string;
  private process: ResultPromise | undefined;
  private exited: Promise<unknown> = Promise.resolve();
  private stderrTail = '';
  private stopped = false;

  constructor(
    readonly dir: string,
    readonly address: string,
    readonly port: number,
    readonly clientKeyFile: string,
    readonly knownHostsFile: string,
    readonly hostPublicKey: string,
    readonly hostKeyFingerprint: string,
    private readonly netns?: string,
  ) {
    this.sshTarget = `${BENCH_USER}@${address}:${port}`;
  }

  sshArgs(overrides: { identityFile?: string; knownHostsFile?: string } = {}): string[] {
    return [
      '-F',
      'none',
      '-i',
      overrides.identityFile ?? this.clientKeyFile,
      '-p',
      String(this.port),
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${overrides.knownHostsFile ?? this.knownHostsFile}`,
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-o',
      'UpdateHostKeys=no',
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'IdentityAgent=none',
      '-o',
      'PasswordAuthentication=no',
      '-o',
      'KbdInteractiveAuthentication=no',
      '-o',
      'ConnectTimeout=10',
    ];
  }

  rsyncRsh(overrides: { identityFile?: string; knownHostsFile?: string } = {}): string {
    return ['ssh', ...this.sshArgs(overrides)].map(rshQuote).join(' ');
  }

  async wrongHostKnownHosts(): Promise<string> {
    const other = await generateKeyPair(this.dir, `wrong_host_key_${Date.now()}`);
    const file = join(this.dir, `known_hosts.wrong.${Date.now()}`);
    await writeFile(file, knownHostsLines(this.address, this.port, other.publicKey));
    return file;
  }

  log(): string {
    return this.stderrTail;
  }

  /** Starts sshd and resolves once the port answers with an SSH banner. */
  async start(): Promise<void> {
    await mkdir(PRIVSEP_DIR, { recursive: true, mode: 0o755 });
    this.stderrTail = '';
    const sshdArgs = ['-D', '-e', '-f', join(this.dir, 'sshd_config')];
    // `ip netns exec` execs sshd in place (same pid), so killTree below still reaches every session.
    const child = execa(
      this.netns ? 'ip' : SSHD,
      this.netns ? ['netns', 'exec', this.netns, SSHD, ...sshdArgs] : sshdArgs,
      {
        stdin: 'ignore',
        stdout: 'ignore',
        stderr: 'pipe',
        buffer: false,
        reject: false,
      },
    );
    this.process = child;
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-STDERR_TAIL_CHARS);
    });
    let exitedEarly = false;
    this.exited = child.then(() => {
      exitedEarly = true;
    });

    const deadline = Date.now() + READY_TIMEOUT_MS;
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (exitedEarly) {
        this.process = undefined;
        throw new Error(`sshd on ${this.address}:${this.port} exited during start-up:\n${this.stderrTail}`);
      }
      try {
        await readBanner(this.address, this.port);
        return;
      } catch (error) {
        lastError = error;
        await sleep(50);
      }
    }
    await this.terminate();
    throw new Error(`sshd on ${this.address}:${this.port} sent no SSH banner within ${READY_TIMEOUT_MS} ms`, {
      cause: lastError,
    });
  }

  private async terminate(): Promise<void> {
    const pid = this.process?.pid;
    this.process = undefined;
    if (pid === undefined) return;
    await killTree(pid);
    await this.exited;
  }

  async kill(): Promise<void> {
    await this.terminate();
  }

  async restart(): Promise<void> {
    if (this.stopped) throw new Error(`sshd on ${this.address}:${this.port} was stopped; start a new one`);
    await this.terminate();
    await this.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.terminate();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * The login the bench's sshd accepts: uid 0 (it drives Docker and writes root-owned trees, as root does on a
 * typical Unraid host) but with /bin/sh as its shell. Root's own shell on this machine is bash, whose .bashrc
 * (pyenv) costs 1-2 s per SSH command and would dominate every test's time.
 */
export const BENCH_USER = 'jfbench';

let benchUserReady: Promise<void> | undefined;

/**
 * Creates the bench login once. It only writes /etc/passwd and /etc/shadow when they lack it: rewriting them while
 * another test's sshd opens a session makes that session die without an exit status. The global setup calls
 * this before any test runs.
 */
export async function ensureBenchUser(): Promise<void> {
  const shadow = await execa('getent', ['shadow', BENCH_USER], { reject: false });
  if (shadow.exitCode === 0 && shadow.stdout.split(':')[1] === '*') return;
  const present = await execa('getent', ['passwd', BENCH_USER], { reject: false });
  if (present.exitCode !== 0) {
    await execa('useradd', [
      '--non-unique',
      '--uid',
      '0',
      '--gid',
      '0',
      '--no-create-home',
      '--home-dir',
      '/root',
      '--shell',
      '/bin/sh',
      BENCH_USER,
    ]);
  }
  // '*': no password login, but not "locked" ('!'), which sshd without PAM refuses even for keys.
  await execa('usermod', ['--password', '*', BENCH_USER]);
}

/**
 * A session wrapper (sshd ForceCommand) whose PATH holds links to every program of the standard directories but
 * the hidden ones, so `command -v <hidden>` fails on this "host" while rsync, docker and the rest work.
 */
async function restrictedSession(dir: string, hide: string[]): Promise<string> {
  const bin = join(dir, 'bin');
  const script = [
    'set -e',
    'mkdir -p "$1"',
    'bin="$1"; shift',
    'for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do',
    '  for f in "$d"/*; do',
    '    n=$(basename "$f")',
    '    for h in "$@"; do [ "$n" = "$h" ] && continue 2; done',
    '    [ -x "$f" ] && [ ! -e "$bin/$n" ] && ln -s "$f" "$bin/$n"',
    '  done',
    'done',
    'true',
  ].join('\n');
  await execa('sh', ['-c', script, 'sh', bin, ...hide]);
  const session = join(dir, 'session.sh');
  await writeFile(
    session,
    `#!/bin/sh\nPATH='${bin}'\nexport PATH\nexec /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n`,
    { mode: 0o755 },
  );
  return session;
}

/** Starts a fresh sshd for one test; see `SshdHandle`. Call `stop()` in the test's cleanup. */
export async function startSshd(opts: StartSshdOptions = {}): Promise<SshdHandle> {
  benchUserReady ??= ensureBenchUser();
  await benchUserReady;
  if (opts.netns !== undefined && opts.address === undefined) {
    throw new Error(`startSshd: netns ${opts.netns} needs an address of that namespace to listen on`);
  }
  const address = opts.address ?? nextAddress();
  const dir = await mkdtemp(join(tmpdir(), 'jf-bench-sshd-'));
  try {
    const hostKey = await generateKeyPair(dir, 'ssh_host_ed25519_key');
    const clientKey = opts.clientKey ?? (await generateKeyPair(dir, 'client_ed25519'));
    await writeFile(join(dir, 'authorized_keys'), `${clientKey.publicKey}\n`, { mode: 0o600 });
    const { stdout: fingerprintLine } = await execa('ssh-keygen', [
      '-l',
      '-E',
      'sha256',
      '-f',
      hostKey.publicKeyFile,
    ]);
    const hostKeyFingerprint = fingerprintLine.split(' ')[1] ?? '';

    const forceCommand = opts.hideCommands?.length
      ? await restrictedSession(dir, opts.hideCommands)
      : undefined;
    // A port found free can be taken before sshd binds it; with no fixed port, try a few.
    const fixedPort = opts.port ?? (opts.netns !== undefined ? 22 : undefined);
    const attempts = fixedPort === undefined ? 3 : 1;
    let lastError: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      const port = fixedPort ?? (await freePort(address));
      await writeFile(
        join(dir, 'sshd_config'),
        sshdConfig(dir, address, port, { forceCommand, maxSessions: opts.maxSessions }),
      );
      const knownHostsFile = join(dir, 'known_hosts');
      await writeFile(knownHostsFile, knownHostsLines(address, port, hostKey.publicKey));
      const sshd = new BenchSshd(
        dir,
        address,
        port,
        clientKey.privateKeyFile,
        knownHostsFile,
        hostKey.publicKey.split(' ').slice(0, 2).join(' '),
        hostKeyFingerprint,
        opts.netns,
      );
      try {
        await sshd.start();
        return sshd;
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
