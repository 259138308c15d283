/** What the service asks of a Jellyfin database, through a host's sqlite3 CLI (argv only, read-only). */
import type { HostShell } from '../../domain/ports.js';

/** `PRAGMA quick_check`: 'ok', or what sqlite3 complains about. */
export async function quickCheckWith(shell: HostShell, database: string): Promise<string> {
  const r = await shell.exec(['sqlite3', database, 'PRAGMA quick_check;']);
  if (r.exitCode !== 0) return (r.stderr || r.stdout).trim() || `sqlite3 exit ${r.exitCode}`;
  return r.stdout.trim();
}
