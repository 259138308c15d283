import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

export const DOCKER_SOCKET = '/var/run/docker.sock';

async function engineAnswers(): Promise<boolean> {
  if (!existsSync(DOCKER_SOCKET)) return false;
  const r = await execa(
    'docker',
    ['-H', `unix://${DOCKER_SOCKET}`, 'version', '--format', '{{.Server.Version}}'],
    {
      reject: false,
      timeout: 10_000,
    },
  );
  return r.exitCode === 0;
}

/**
 * Uses the running Docker engine, or starts dockerd (no bridge, no iptables: containers use host networking on
 * loopback). Returns a stop function for an engine it started, or null when one was already running.
 */
export async function ensureDockerd(
  workDir: string,
  log: (msg: string) => void,
): Promise<(() => Promise<void>) | null> {
  if (await engineAnswers()) return null;
  await mkdir(workDir, { recursive: true });
  const logFile = join(workDir, 'dockerd.log');
  const out = await open(logFile, 'a');
  log(`starting dockerd (log: ${logFile})`);
  const child = spawn(
    'dockerd',
    ['--bridge=none', '--iptables=false', '--ip6tables=false', `--host=unix://${DOCKER_SOCKET}`],
    { detached: true, stdio: ['ignore', out.fd, out.fd] },
  );
  child.on('error', () => undefined);
  child.unref();
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null && child.exitCode !== undefined) break;
    if (await engineAnswers()) {
      await out.close();
      return async () => {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      };
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  await out.close();
  const tail = await execa('tail', ['-n', '30', logFile], { reject: false });
  throw new Error(`dockerd did not start within 60 s. Last log lines:\n${tail.stdout}`);
}
