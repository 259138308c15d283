import type { Config } from '../../config/load.js';
import type { HostShell } from '../../domain/ports.js';
import type { Logger } from '../../log.js';
import { createDocker, DockerContainer } from '../docker/container.js';
import { SwagTrafficSwitch } from './swag-switch.js';
import { upstreamServerOf } from './upstream.js';

export {
  CHECK_PATH,
  SwagSwitchError,
  SwagTrafficSwitch,
  type SwagTrafficSwitchOptions,
} from './swag-switch.js';
export { buildUpstreamInclude, DEFAULT_PASSIVE_HEALTH, UPSTREAM_NAME, upstreamServerOf } from './upstream.js';

/**
 * The SWAG traffic switch for a config with `SWAG_CONTAINER` set: the include is written through the shell of
 * `SWAG_SITE`, nginx runs in the container on that site's Docker, and the upstream servers are the host:port of
 * `MASTER_URL` and `SLAVE_URL`.
 */
export function createSwagTrafficSwitch(
  config: Config,
  swag: NonNullable<Config['swag']>,
  shell: HostShell,
  logger: Logger,
): SwagTrafficSwitch {
  const site = config.sites[swag.site];
  return new SwagTrafficSwitch({
    shell,
    container: new DockerContainer(createDocker(site, config.ssh), swag.container),
    upstreamFile: swag.upstreamFile,
    servers: {
      master: upstreamServerOf(config.sites.master.url, 'MASTER_URL'),
      slave: upstreamServerOf(config.sites.slave.url, 'SLAVE_URL'),
    },
    checkUrl: swag.checkUrl,
    logger,
  });
}
