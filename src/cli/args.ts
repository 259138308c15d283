import { parseArgs } from 'node:util';
import { OPERATION_KINDS, type OperationKind } from '../domain/state.js';
import { UsageError } from './exit.js';

export const COMMANDS = ['run', 'status', 'check', 'health', ...OPERATION_KINDS, 'merge'] as const;
export type CommandName = (typeof COMMANDS)[number];

export interface CliArgs {
  command: CommandName | 'help' | 'version';
  force: boolean;
  json: boolean;
  envFile: string;
  /** sync --merge, or the merge command: merge a diverged standby into the primary, then sync. */
  merge: boolean;
  /** merge --dry-run: only show what a merge would carry. */
  dryRun: boolean;
}

export const USAGE = `Usage: jellyfin-failover <command> [options]

Commands:
  run        run the service: health monitor, Home Assistant bridge over MQTT
  status     show roles, site health and the last sync
  check      validate the configuration and probe both sites
  sync       copy the primary's config and database to the standby
  promote    make slave the primary (sync first when master is reachable)
  failback   make master the primary again, carrying back what users did on slave
  rollback   undo the last operation
  merge      carry what users did on a diverged standby into the primary (Jellyfin's API,
             JELLYFIN_API_KEY), then sync; --dry-run lists what it would carry and the conflicts
  health     exit 0 while the service (run) is alive: for Docker's HEALTHCHECK

Options:
  --force            override a safety refusal (diverged standby, version mismatch, suspicious source)
  --merge            sync: merge a diverged standby first instead of refusing (as the merge command)
  --dry-run          merge: show what would be carried, change nothing
  --json             print machine-readable JSON on stdout
  --env-file <path>  configuration file (default: .env in the current directory)
  -h, --help         show this help
  -v, --version      show the version

Exit codes: 0 success, 1 operation failed (after rollback), 2 bad configuration or usage,
3 refused by a safety rule or busy.`;

export function parseCli(argv: string[]): CliArgs {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new UsageError(`${(err as Error).message}. Run jellyfin-failover --help for usage.`, {
      cause: err,
    });
  }
  const { values, positionals } = parsed;
  const base = {
    force: values.force ?? false,
    json: values.json ?? false,
    envFile: values['env-file'] ?? '.env',
    merge: values.merge ?? false,
    dryRun: values['dry-run'] ?? false,
  };
  if (values.help) return { command: 'help', ...base };
  if (values.version) return { command: 'version', ...base };
  if (positionals.length === 0)
    throw new UsageError('No command given. Run jellyfin-failover --help for usage.');
  if (positionals.length > 1) {
    throw new UsageError(
      `Too many arguments: ${positionals.slice(1).join(' ')}. Commands take no arguments besides options.`,
    );
  }
  const command = positionals[0] ?? '';
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new UsageError(`Unknown command "${command}". Commands: ${COMMANDS.join(', ')}.`);
  }
  const name = command as CommandName;
  if (base.force && !isOperation(name) && name !== 'merge') {
    throw new UsageError(`--force applies to sync, promote, failback, rollback and merge, not to ${name}.`);
  }
  if (base.merge && name !== 'sync') {
    throw new UsageError(`--merge applies to sync only (jellyfin-failover sync --merge), not to ${name}.`);
  }
  if (base.dryRun && name !== 'merge') {
    throw new UsageError(
      `--dry-run applies to merge only (jellyfin-failover merge --dry-run), not to ${name}.`,
    );
  }
  return { command: name, ...base, merge: base.merge || (name === 'merge' && !base.dryRun) };
}

export function isOperation(name: CommandName): name is OperationKind {
  return (OPERATION_KINDS as readonly string[]).includes(name);
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      force: { type: 'boolean' },
      merge: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
      'env-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
}
