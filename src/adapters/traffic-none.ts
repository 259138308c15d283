import type { Log } from '../domain/log.js';
import type { TrafficSwitch } from '../domain/ports.js';
import type { SiteName } from '../domain/sites.js';

/** SWAG_CONTAINER empty: the service does not route traffic; users follow by other means (DNS, bookmarks). */
export class NoTrafficSwitch implements TrafficSwitch {
  constructor(private readonly logger: Log) {}

  async switchTo(primary: SiteName, standby: SiteName): Promise<void> {
    this.logger.info({ primary, standby }, 'SWAG_CONTAINER is empty: traffic switching skipped');
  }
}
