import type { Config, SiteConfig } from '../../config/load.js';
import type { HostShell } from '../../domain/ports.js';
import type { Logger } from '../../log.js';
import { LocalShell } from './local.js';
import { SshShell } from './ssh.js';

export { LocalShell } from './local.js';
export { quoteArgv } from './quote.js';
export { SshShell } from './ssh.js';

/** The shell of a site: this machine when the site has no `*_SSH`, else a pinned, key-only SSH connection. */
export function createShell(site: SiteConfig, ssh: Config['ssh'], logger: Logger): HostShell {
  if (site.ssh === null) return new LocalShell();
  const prefix = site.name.toUpperCase();
  if (!ssh.keyFile || !ssh.knownHostsFile) {
    // The config loader requires both when a site is remote; this guards callers that build configs by hand.
    throw new Error(`${prefix}_SSH is set but SSH_KEY_FILE or SSH_KNOWN_HOSTS_FILE is missing`);
  }
  return new SshShell({
    target: site.ssh,
    keyFile: ssh.keyFile,
    knownHostsFile: ssh.knownHostsFile,
    logger: logger.child({ site: site.name, module: 'ssh' }),
  });
}
