/**
 * A short-lived helper container on a site's Docker: the service's own image (it has sqlite3) run once with a
 * site's directories mounted at the same paths, for work the site's host cannot do itself (Unraid ships no
 * sqlite3). No network; removed afterwards, also when it fails or is killed.
 */
import { randomBytes } from 'node:crypto';
import type Dockerode from 'dockerode';
import { withDeadline } from '../../domain/deadline.js';
import type { ExecResult } from '../../domain/ports.js';

/** Label of every helper container, so a leftover from a crash is recognised and removed. */
export const HELPER_LABEL = 'io.jellyfin-failover.helper';

export class HelperContainer {
  constructor(
    private readonly docker: Dockerode,
    /** The image to run (SNAPSHOT_IMAGE). */
    readonly image: string,
    /** `<SITE>_DOCKER`, for messages. */
    private readonly where: string,
  ) {}

  /** Whether the image is on that Docker engine (pulled there if a registry has it). */
  async available(): Promise<{ ok: true } | { ok: false; why: string }> {
    try {
      await this.docker.getImage(this.image).inspect();
      return { ok: true };
    } catch {
      // not there: try to pull it (a real site reaches the registry; the bench has no registry)
    }
    try {
      const stream = await this.docker.pull(this.image);
      await new Promise<void>((resolve, reject) =>
        this.docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())),
      );
      return { ok: true };
    } catch (err) {
      return {
        ok: false,
        why: `the image ${this.image} is not on ${this.where} and cannot be pulled (${(err as Error).message}): docker pull it there, or set SNAPSHOT_IMAGE`,
      };
    }
  }

  /** Runs `argv` in a fresh container with `binds` (host:container[:ro]); resolves with its exit code and output. */
  async run(argv: readonly string[], binds: readonly string[], timeoutMs: number): Promise<ExecResult> {
    const name = `jf-failover-helper-${randomBytes(4).toString('hex')}`;
    const container = await this.docker.createContainer({
      name,
      Image: this.image,
      Entrypoint: [],
      Cmd: [...argv],
      User: '0:0',
      Labels: { [HELPER_LABEL]: 'snapshot' },
      HostConfig: { Binds: [...binds], NetworkMode: 'none' },
    });
    try {
      await container.start();
      const waited = (await withDeadline(container.wait(), timeoutMs, `the helper container ${name}`)) as {
        StatusCode?: number;
      };
      const logs = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
      const { stdout, stderr } = demux(logs);
      return { exitCode: waited.StatusCode ?? 255, stdout, stderr };
    } finally {
      await container.remove({ force: true }).catch(() => undefined);
    }
  }
}

/** Docker's multiplexed log stream (8-byte frame headers) as stdout and stderr text. */
function demux(logs: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let at = 0;
  while (at + 8 <= logs.length) {
    const kind = logs[at];
    const size = logs.readUInt32BE(at + 4);
    const frame = logs.subarray(at + 8, at + 8 + size);
    (kind === 2 ? err : out).push(frame);
    at += 8 + size;
  }
  return { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}
