/**
 * A copy between two remote sites with nothing installed or stored on either for the other (SPEC section 1: the
 * service on a third machine). rsync runs on the source host as usual, but its "remote shell" is a few lines of sh
 * that hand the rsync protocol back to this service over the source's own SSH channel; the service starts the
 * receiving `rsync --server` on the destination over the destination's SSH connection and carries the bytes
 * between the two. Both hosts only ever see this service's key; data crosses this host's network twice (in from
 * the source, out to the destination) and never touches its disk.
 *
 * On the source, fds 3/4 are the SSH channel (to this service); rsync's own stdout goes to stderr (progress and
 * --stats arrive there). The relay script first writes `JFRELAY <argc>\n` and its NUL-terminated arguments (the
 * host placeholder and the `rsync --server ...` command rsync wants run), then copies between rsync and fds 3/4.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { HostUnreachableError } from '../../domain/errors.js';
import type { TransferProgress, TransferStats } from '../../domain/ports.js';
import type { RemoteProcess, SshShell } from '../ssh/shell.js';
import { parseProgress, parseStats } from './argv.js';
import { describeRsyncExit, RsyncError } from './exit-codes.js';

/** The remote shell rsync runs on the source (its arguments: host, then the server command). */
export const RELAY_SCRIPT =
  `printf 'JFRELAY %d\\n' "$#" >&4; printf '%s\\0' "$@" >&4; ` +
  // rsync -> this service in the background (stdin passed explicitly: an async list's stdin is /dev/null), this
  // service -> rsync in the foreground; rsync waits for its remote shell to exit by itself once the receiving side
  // is done (as ssh does), so the script ends when this service closes the channel, not on rsync's EOF.
  'exec 5<&0; cat <&5 >&4 & cat <&3; kill $! 2>/dev/null; exit 0';

/** The host name rsync is given for the destination: it never resolves, the relay script ignores it. */
export const RELAY_HOST = 'jf-relay';

/**
 * The argv run on the source: fds rearranged, then rsync (`options`, then the two paths) with the relay as its
 * remote shell, pushing to `RELAY_HOST:<destinationPath>`.
 */
export function relaySourceArgv(
  options: readonly string[],
  sourcePath: string,
  destinationPath: string,
): string[] {
  return [
    'env',
    `JF_RELAY=${RELAY_SCRIPT}`,
    'sh',
    '-c',
    'exec 3<&0 4>&1 1>&2 0</dev/null; exec "$@"',
    'sh',
    ...options,
    '-e',
    `sh -c 'eval "$JF_RELAY"' relay`,
    sourcePath,
    `${RELAY_HOST}:${destinationPath}`,
  ];
}

/** Splits off the relay's header (`JFRELAY <n>\n` and n NUL-terminated arguments), then passes the rest through. */
export class RelayHeader extends Transform {
  private buffered = Buffer.alloc(0);
  private argv: string[] | null = null;
  private readonly waiters: Array<(argv: string[]) => void> = [];
  private failed: Error | null = null;

  /** The arguments the relay script was called with, once they have arrived. */
  header(): Promise<string[]> {
    if (this.argv) return Promise.resolve(this.argv);
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiters.push(resolve);
      this.once('header-error', reject);
    });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.argv) {
      done(null, chunk);
      return;
    }
    this.buffered = Buffer.concat([this.buffered, chunk]);
    const nl = this.buffered.indexOf(0x0a);
    if (nl < 0) {
      done(this.tooLong());
      return;
    }
    const m = /^JFRELAY (\d+)$/.exec(this.buffered.subarray(0, nl).toString('latin1'));
    if (!m?.[1]) {
      const seen = JSON.stringify(this.buffered.subarray(0, 40).toString('latin1'));
      done(this.fail(`the relay on the source sent ${seen}`));
      return;
    }
    const count = Number(m[1]);
    const args: string[] = [];
    let at = nl + 1;
    while (args.length < count) {
      const end = this.buffered.indexOf(0, at);
      if (end < 0) {
        done(this.tooLong());
        return;
      }
      args.push(this.buffered.subarray(at, end).toString('utf8'));
      at = end + 1;
    }
    this.argv = args;
    for (const wake of this.waiters.splice(0)) wake(args);
    const rest = this.buffered.subarray(at);
    this.buffered = Buffer.alloc(0);
    done(null, rest.length > 0 ? rest : undefined);
  }

  private tooLong(): Error | null {
    return this.buffered.length > 64 * 1024 ? this.fail('the relay header is longer than 64 KiB') : null;
  }

  private fail(message: string): Error {
    this.failed = new Error(message);
    this.emit('header-error', this.failed);
    return this.failed;
  }
}

/** The server command the relay may start on the destination: `rsync --server` receiving, nothing else. */
export function destinationCommand(argv: readonly string[]): string[] {
  const command = argv.slice(1); // argv[0] is the host placeholder
  if (command[0] !== 'rsync' || command[1] !== '--server' || command.includes('--sender')) {
    throw new Error(
      `the relay was asked to run ${JSON.stringify(command.slice(0, 3))} on the destination, not a receiving rsync --server`,
    );
  }
  return command;
}

/**
 * Runs `sourceArgv` (relaySourceArgv: a push to `RELAY_HOST:<dst>`) on `source`, with the destination's receiving rsync started on
 * `destination` and the protocol carried between them. Resolves with rsync's stats; rejects (RsyncError,
 * HostUnreachableError) naming the side that failed. Either side failing stops the other.
 */
export async function relayRsync(
  source: SshShell,
  destination: SshShell,
  sourceArgv: readonly string[],
  what: string,
  onProgress?: (p: TransferProgress) => void,
): Promise<TransferStats> {
  const src = await source.spawn(sourceArgv);
  let dst: RemoteProcess | null = null;
  let srcErr = '';
  let dstErr = '';
  let pending = '';
  src.stderr.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    srcErr = (srcErr + text).slice(-200_000);
    pending += text;
    const parts = pending.split(/[\r\n]/);
    pending = parts.pop() ?? '';
    for (const part of parts) {
      const p = parseProgress(part);
      if (p) onProgress?.(p);
    }
  });
  const header = new RelayHeader();
  src.stdout.pipe(header);
  const srcExit = src.exited;
  try {
    const argv = await Promise.race([
      header.header(),
      srcExit.then((e) => {
        throw new RsyncError(
          `copy ${what} failed on ${source.label}: rsync ended before the relay started (${e.dropped ? 'the SSH connection dropped' : `exit ${e.code}`}): ${srcErr.trim().split('\n').slice(-3).join(' | ')}`,
          'rsync',
          e.code ?? 255,
          srcErr,
        );
      }),
    ]);
    dst = await destination.spawn(destinationCommand(argv));
    const d = dst;
    d.stderr.on('data', (chunk: Buffer) => {
      dstErr = (dstErr + chunk.toString('utf8')).slice(-20_000);
    });
    header.pipe(d.stdin);
    d.stdout.pipe(src.stdin);
    // One side gone: the other must not wait for it forever.
    const [s, t] = await Promise.all([
      srcExit.then((e) => {
        // The source's rsync is gone: its relay children and the receiving side go with it.
        void src.kill();
        if (e.code !== 0) void d.kill();
        return e;
      }),
      d.exited.then(async (e) => {
        if (e.code !== 0) void src.kill();
        // Its last bytes may still be on their way through the pipe: end the source's input only after them.
        else await ended(d.stdout, 5_000);
        src.stdin.end();
        return e;
      }),
    ]);
    for (const [side, e, label] of [
      ['source', s, source.label],
      ['destination', t, destination.label],
    ] as const) {
      if (e.dropped) {
        throw new HostUnreachableError(
          label,
          'dropped',
          `the SSH connection to the ${side} dropped during the copy ${what}`,
          'Check the host and the network, then retry',
        );
      }
    }
    if (s.code !== 0 || t.code !== 0) {
      const code = s.code !== 0 ? (s.code ?? 255) : (t.code ?? 255);
      const stderr = `${srcErr}\n${dstErr}`;
      const tail = stderr.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
      const where = s.code !== 0 ? source.label : destination.label;
      throw new RsyncError(
        `copy ${what} failed on ${where} (relayed through this host): ${describeRsyncExit(code, stderr)}${tail ? ` [${tail}]` : ''}`,
        'rsync',
        code,
        stderr,
      );
    }
    // The exit status can come before the last of rsync's output (its --stats): wait for the stream's end.
    await ended(src.stderr, 5_000);
    return parseStats(srcErr);
  } catch (err) {
    await Promise.allSettled([src.kill(), dst?.kill()]);
    throw err;
  }
}

function ended(stream: NodeJS.ReadableStream, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    if ((stream as { readableEnded?: boolean }).readableEnded) done();
    else stream.once('end', done);
  });
}
