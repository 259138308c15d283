import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitForPort(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
      s.connect(port, host);
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
}

export interface MosquittoHandle {
  port: number;
  url: string;
  stop(): Promise<void>;
  /** Kill and start again on the same port (broker restart fault). */
  restart(): Promise<void>;
}

/** A Mosquitto broker on 127.0.0.1 with anonymous access, for the bench. */
export async function startMosquitto(workDir: string, port?: number): Promise<MosquittoHandle> {
  const dir = join(workDir, `mosquitto-${process.pid}-${Date.now()}`);
  await mkdir(dir, { recursive: true });
  const chosen = port ?? (await freePort());
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(
    conf,
    [
      `listener ${chosen} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      '',
    ].join('\n'),
  );
  let child: ResultPromise | undefined;
  const start = async () => {
    const c = execa('mosquitto', ['-c', conf], { reject: false, stdio: ['ignore', 'ignore', 'pipe'] });
    c.catch(() => undefined);
    child = c;
    await waitForPort('127.0.0.1', chosen, 10_000);
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c) return;
    c.kill('SIGTERM');
    await c;
  };
  await start();
  return {
    port: chosen,
    url: `mqtt://127.0.0.1:${chosen}`,
    stop,
    async restart() {
      await stop();
      await start();
    },
  };
}
