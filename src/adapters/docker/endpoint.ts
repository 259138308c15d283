import Dockerode from 'dockerode';
import type { DockerEndpoint } from '../../config/schema.js';
import type { SshConnection } from '../ssh/connection.js';
import { DockerOverSshAgent } from './dial-stdio.js';

/**
 * A Docker client for a site's `*_DOCKER` endpoint: a Unix socket, plain TCP, or the engine of the site's SSH host
 * reached over the site's one SSH connection (same key and pinned host key as its shell, SPEC 4 rule 9). Nothing
 * connects here. `variable` names the setting in messages.
 */
export function createDocker(
  endpoint: DockerEndpoint,
  ssh: SshConnection | null,
  variable: string,
): Dockerode {
  // Every connection field is given explicitly, so DOCKER_HOST / DOCKER_CERT_PATH in the environment cannot
  // redirect a site's Docker client somewhere else.
  const neutral = { host: undefined, port: undefined, ca: undefined, cert: undefined, key: undefined };
  switch (endpoint.kind) {
    case 'socket':
      return new Dockerode({ ...neutral, socketPath: endpoint.path, protocol: 'http' });
    case 'tcp':
      return new Dockerode({ ...neutral, host: endpoint.host, port: endpoint.port, protocol: 'http' });
    case 'ssh': {
      if (ssh === null)
        throw new Error(`${variable}=ssh needs the site's *_SSH, SSH_KEY_FILE and SSH_KNOWN_HOSTS_FILE`);
      // Not docker-modem's own `protocol: 'ssh'`: it merges SSH_AUTH_SOCK over the options given here, logs in
      // once per request, and turns a failed dial-stdio or a refused host key into "socket hang up". The same
      // transport (dial-stdio) is done here with an http.Agent; the host name below only fills the Host header.
      const options: Dockerode.DockerOptions & { agent: DockerOverSshAgent } = {
        ...neutral,
        host: 'localhost',
        port: 80,
        protocol: 'http',
        agent: new DockerOverSshAgent(ssh, variable),
      };
      return new Dockerode(options);
    }
  }
}
