/**
 * dockerode loads `lib/session.js` (gRPC and protobuf, for BuildKit image builds) when it loads, although only
 * `docker.buildImage` with BuildKit uses it. jellyfin-failover never builds images, so the module is put in
 * Node's module cache as a stub that says so, before dockerode is first imported. Saves ~7 MB of resident memory
 * in a service that runs all the time. If dockerode moves the file, nothing is stubbed and it loads as usual.
 */
import { createRequire } from 'node:module';

export function skipDockerBuildkit(): void {
  const require = createRequire(import.meta.url);
  let path: string;
  try {
    path = require.resolve('dockerode/lib/session.js');
  } catch {
    return;
  }
  const Module = require('node:module') as typeof import('node:module') & {
    new (id: string): { filename: string; loaded: boolean; exports: unknown };
  };
  const stub = new Module(path);
  stub.filename = path;
  stub.loaded = true;
  stub.exports = () => {
    throw new Error('jellyfin-failover does not build images: dockerode BuildKit sessions are not loaded');
  };
  (require.cache as Record<string, unknown>)[path] = stub;
}
