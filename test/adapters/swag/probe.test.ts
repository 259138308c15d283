import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { getThroughProxy } from '../../../src/adapters/swag/probe.js';

let server: Server | undefined;
let certDir: string | undefined;

afterEach(async () => {
  const s = server;
  server = undefined;
  if (s) await new Promise((resolve) => s.close(resolve));
  if (certDir) await rm(certDir, { recursive: true, force: true });
  certDir = undefined;
});

function answer(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(req.url === '/System/Info/Public' ? 200 : 404, {
    'content-type': 'application/json',
    'x-jellyfin-backend': '192.168.1.10:8096, 192.168.1.11:8096',
  });
  res.end('{}');
}

async function listen(s: Server): Promise<number> {
  server = s;
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return (s.address() as AddressInfo).port;
}

describe('getThroughProxy', () => {
  it('reads the status and the X-Jellyfin-Backend header over plain http', async () => {
    const port = await listen(createHttpServer(answer));
    expect(await getThroughProxy(`http://127.0.0.1:${port}/System/Info/Public`, 5_000)).toEqual({
      status: 200,
      backendHeader: '192.168.1.10:8096, 192.168.1.11:8096',
    });
  });

  it('accepts a self-signed certificate for this request (a SWAG reached by its LAN address)', async () => {
    certDir = await mkdtemp(join(tmpdir(), 'jf-swag-cert-'));
    const key = join(certDir, 'key.pem');
    const cert = join(certDir, 'cert.pem');
    await execa('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=jellyfin.example.com',
      '-days',
      '1',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    const port = await listen(
      createHttpsServer({ key: await readFile(key), cert: await readFile(cert) }, answer),
    );
    const seen = await getThroughProxy(`https://127.0.0.1:${port}/System/Info/Public`, 5_000);
    expect(seen.status).toBe(200);
    expect(seen.backendHeader).toBe('192.168.1.10:8096, 192.168.1.11:8096');
    // Only this request skips verification: a plain fetch still refuses the certificate.
    await expect(fetch(`https://127.0.0.1:${port}/System/Info/Public`)).rejects.toThrow();
  });

  it('rejects when nothing answers in time', async () => {
    const port = await listen(createHttpServer(() => undefined));
    await expect(getThroughProxy(`http://127.0.0.1:${port}/`, 300)).rejects.toThrow(
      /no answer within 300 ms/,
    );
  });
});
