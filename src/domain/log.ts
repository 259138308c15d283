/**
 * The logger the domain writes to: a structural subset of pino's, so the composition root hands it pino's child
 * loggers and the fast tests a silent one. Fields first, message second, as pino wants them.
 */
export interface Log {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
  child(bindings: Record<string, unknown>): Log;
}

/** A logger that drops everything. */
export const SILENT_LOG: Log = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => SILENT_LOG,
};
