import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/** Field paths that never reach a log line, whatever object they sit in. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'MQTT_PASSWORD',
  '*.MQTT_PASSWORD',
  'privateKey',
  '*.privateKey',
  '*.*.privateKey',
  'passphrase',
  '*.passphrase',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
];

export interface LoggerOptions {
  level: string;
  /** Secret values (e.g. the MQTT password) scrubbed from every message and string field. */
  secrets?: string[];
  destination?: DestinationStream;
}

/**
 * The root logger. Modules take `logger.child({ module: 'mqtt' })` or `logger.child({ site: 'slave' })`.
 * Secrets are removed twice: by field path, and by value from message strings, so a password that ends up in an
 * error message from a library is still not printed.
 */
export function createLogger(options: LoggerOptions): Logger {
  const secrets = (options.secrets ?? []).filter((s) => s.length >= 3);
  const scrub = (text: string): string => secrets.reduce((t, s) => t.split(s).join('[redacted]'), text);
  return pino(
    {
      level: options.level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { service: 'jellyfin-failover' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: {
        logMethod(args, method) {
          if (secrets.length === 0) return method.apply(this, args);
          const cleaned = args.map((a) => (typeof a === 'string' ? scrub(a) : a)) as Parameters<
            typeof method
          >;
          return method.apply(this, cleaned);
        },
        streamWrite: secrets.length === 0 ? undefined : scrub,
      },
    },
    options.destination ?? pino.destination({ dest: 2, sync: true }),
  );
}
