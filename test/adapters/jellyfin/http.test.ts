import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { JellyfinHttp } from '../../../src/adapters/jellyfin/http.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server | undefined;

/** A real HTTP server on 127.0.0.1 answering with `handler`; returns its base URL. */
async function serve(handler: Handler): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function reply(status: number, body: string, type = 'text/plain'): Handler {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': type });
    res.end(body);
  };
}

/** A base URL nothing listens on: a server is started and closed to get a free port. */
async function deadUrl(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return `http://127.0.0.1:${port}`;
}

afterEach(async () => {
  const s = server;
  server = undefined;
  if (s) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

describe('JellyfinHttp.health', () => {
  it.each([
    ['Healthy', 200, 'healthy'],
    ['Healthy\n', 200, 'healthy'],
    ['Degraded', 200, 'starting'],
    ['Degraded', 503, 'starting'],
    ['Unhealthy', 503, 'unhealthy'],
    ['Healthy', 503, 'unhealthy'],
    ['<html>proxy error</html>', 502, 'unhealthy'],
    ['', 200, 'unhealthy'],
  ] as const)('body %j with status %i is %s', async (body, status, expected) => {
    const url = await serve(reply(status, body));
    expect(await new JellyfinHttp(url).health()).toBe(expected);
  });

  it('asks /health under the base URL, with or without a trailing slash', async () => {
    const paths: string[] = [];
    const url = await serve((req, res) => {
      paths.push(req.url ?? '');
      res.end('Healthy');
    });
    expect(await new JellyfinHttp(`${url}/`).health()).toBe('healthy');
    expect(paths).toEqual(['/health']);
  });

  it('is unreachable when nothing listens', async () => {
    expect(await new JellyfinHttp(await deadUrl()).health()).toBe('unreachable');
  });

  it('is unreachable when the server does not answer within the timeout', async () => {
    const url = await serve(() => {
      // never answers
    });
    const started = Date.now();
    expect(await new JellyfinHttp(url, 300).health()).toBe('unreachable');
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});

describe('JellyfinHttp.info', () => {
  const publicInfo = {
    LocalAddress: 'http://127.0.0.1:8096',
    ServerName: 'living-room',
    Version: '10.11.3',
    ProductName: 'Jellyfin Server',
    Id: '0f6b3a5c2d8e4f7a9b1c3d5e7f9a1b3c',
    StartupWizardCompleted: true,
  };

  it('reads version, id and server name from /System/Info/Public', async () => {
    const paths: string[] = [];
    const url = await serve((req, res) => {
      paths.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(publicInfo));
    });
    expect(await new JellyfinHttp(url).info()).toEqual({
      version: '10.11.3',
      id: '0f6b3a5c2d8e4f7a9b1c3d5e7f9a1b3c',
      serverName: 'living-room',
    });
    expect(paths).toEqual(['/System/Info/Public']);
  });

  it.each([
    ['an error status', reply(500, JSON.stringify(publicInfo), 'application/json')],
    ['a body that is not JSON', reply(200, '<html>login</html>', 'text/html')],
    [
      'JSON without a Version',
      reply(200, JSON.stringify({ ...publicInfo, Version: undefined }), 'application/json'),
    ],
    ['JSON with a numeric Id', reply(200, JSON.stringify({ ...publicInfo, Id: 42 }), 'application/json')],
  ])('is null for %s', async (_what, handler) => {
    const url = await serve(handler);
    expect(await new JellyfinHttp(url).info()).toBeNull();
  });

  it('is null when nothing listens or nothing answers in time', async () => {
    expect(await new JellyfinHttp(await deadUrl()).info()).toBeNull();
    const url = await serve(() => {
      // never answers
    });
    expect(await new JellyfinHttp(url, 300).info()).toBeNull();
  });
});
