/** Shared inputs for the add-on tests: options as the Supervisor writes them to /data/options.json. */

/** An OpenSSH public key line of the given type: length-prefixed type name and key bytes, base64. */
export function publicKeyLine(type: string, seed: number, comment = 'root@site'): string {
  const name = Buffer.from(type);
  const key = Buffer.alloc(32, seed);
  const blob = Buffer.alloc(4 + name.length + 4 + key.length);
  blob.writeUInt32BE(name.length, 0);
  name.copy(blob, 4);
  blob.writeUInt32BE(key.length, 4 + name.length);
  key.copy(blob, 8 + name.length);
  return `${type} ${blob.toString('base64')} ${comment}`;
}

export const MASTER_KEY = publicKeyLine('ssh-ed25519', 1, 'root@master');
export const SLAVE_KEY = publicKeyLine('ssh-ed25519', 2, 'root@slave');

/** The required options plus the defaults of config.yaml, as a user who filled in the required ones has. */
export function validOptions(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    master_ssh: 'root@192.168.1.10',
    master_host_key: MASTER_KEY,
    master_url: 'http://192.168.1.10:8096',
    master_config_dir: '/mnt/cache/appdata/jellyfin',
    slave_ssh: 'root@192.168.1.11',
    slave_host_key: SLAVE_KEY,
    slave_url: 'http://192.168.1.11:8096',
    slave_config_dir: '/mnt/cache/appdata/jellyfin',
    master_docker: 'ssh',
    slave_docker: 'ssh',
    master_container: 'jellyfin',
    slave_container: 'jellyfin',
    jellyfin_layout: 'auto',
    mqtt_base_topic: 'jellyfin-failover',
    ha_discovery_prefix: 'homeassistant',
    failover_id: 'jellyfin',
    sync_excludes: [],
    sync_precopy: true,
    sync_mode: 'auto',
    stop_timeout_s: 60,
    start_timeout_s: 300,
    swag_site: 'master',
    slave_banner:
      'This is the standby Jellyfin server. Anything you watch or change here may be lost when the main server comes back.',
    health_interval_s: 10,
    health_failures: 3,
    log_level: 'info',
    ...overrides,
  };
}

/** The Supervisor's answer to GET /services/mqtt with the Mosquitto add-on running (supervisor/api/services.py). */
export const MOSQUITTO_ANSWER = {
  result: 'ok',
  data: {
    host: 'core-mosquitto',
    port: 1883,
    ssl: false,
    protocol: '3.1.1',
    username: 'addons',
    password: 'Eeb0ahsh',
    addon: 'core_mosquitto',
  },
};
