import { HostUnreachableError } from '../../domain/errors.js';
import { type Layout, layoutPaths } from '../../domain/layout.js';
import type { Log } from '../../domain/log.js';
import { DATABASE_PATTERNS, OWNED_SUFFIXES, SQLITE_PATTERNS } from '../../domain/paths.js';
import type { ExecOptions, ExecResult, HostShell, SiteFilesPort } from '../../domain/ports.js';
import { CommandError } from '../errors.js';

/** Writes stdin to a temp file beside the target, keeps the old file's owner and mode, then renames. */
const ATOMIC_WRITE = [
  'set -e',
  'tmp="$1.jf-failover-tmp"',
  'cat > "$tmp"',
  'if [ -e "$1" ]; then chown --reference="$1" "$tmp" 2>/dev/null || true; chmod --reference="$1" "$tmp"; fi',
  'mv -f -- "$tmp" "$1"',
].join('\n');

/** Moves $1 to $2, refusing to overwrite: exit 17 when $2 exists. */
const MOVE = 'if [ -e "$2" ]; then echo "$2 already exists" >&2; exit 17; fi; mv -T -- "$1" "$2"';
/**
 * The same move once more after its exit status was lost: the first run may have moved it before the connection
 * went, and then the source is gone and the target in place, which is the move done (not a target to refuse).
 */
const MOVE_AGAIN = `if [ ! -e "$1" ] && [ -e "$2" ]; then exit 0; fi; ${MOVE}`;

/**
 * File work on one site's host, through its shell (local or SSH), so the same code serves both. Paths are
 * passed as arguments (positional parameters of fixed scripts), never spliced into a command string.
 */
export class SiteFiles implements SiteFilesPort {
  constructor(
    private readonly shell: HostShell,
    private readonly log?: Log,
  ) {}

  /**
   * Every command here is safe to repeat (reads, `mkdir -p`, removal of owned trees, an atomic write; a move is
   * repeated as `again`, which knows it may have happened), so one that lost its SSH channel without an exit
   * status is run once more before the failure counts: a transient drop must not fail (and roll back) an
   * operation.
   */
  private async exec(
    argv: readonly string[],
    options: ExecOptions = {},
    again: readonly string[] = argv,
  ): Promise<ExecResult> {
    try {
      return await this.shell.exec(argv, options);
    } catch (err) {
      if (!(err instanceof HostUnreachableError) || err.reason !== 'dropped') throw err;
      this.log?.warn(
        { host: this.label, command: argv[0], err: err.message },
        'no exit status: running again',
      );
      await new Promise((r) => setTimeout(r, 500));
      return this.shell.exec(again, options);
    }
  }

  get label(): string {
    return this.shell.label;
  }

  private async run(
    argv: string[],
    what: string,
    { input, again = argv }: { input?: string; again?: string[] } = {},
  ): Promise<string> {
    const r = await this.exec(argv, input === undefined ? {} : { input }, again);
    if (r.exitCode !== 0) {
      throw new CommandError(
        `${what} failed on ${this.shell.label} (exit ${r.exitCode}): ${r.stderr.trim() || r.stdout.trim()}`,
        argv[0] ?? '',
        r.exitCode,
        r.stderr,
      );
    }
    return r.stdout;
  }

  async reachable(): Promise<boolean> {
    return (await this.unreachableReason()) === null;
  }

  /** Null when the host runs commands; else why not (connection refused, host key, auth, ...). */
  async unreachableReason(): Promise<string | null> {
    try {
      const r = await this.exec(['true'], { timeoutMs: 15_000 });
      return r.exitCode === 0 ? null : `running a command failed (exit ${r.exitCode}): ${r.stderr.trim()}`;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }

  async exists(path: string): Promise<boolean> {
    return (await this.exec(['test', '-e', path])).exitCode === 0;
  }

  async isDir(path: string): Promise<boolean> {
    return (await this.exec(['test', '-d', path])).exitCode === 0;
  }

  async hasCommand(name: string): Promise<boolean> {
    return (await this.exec(['sh', '-c', 'command -v "$1" >/dev/null', 'sh', name])).exitCode === 0;
  }

  /** The layout whose database file exists in `configDir`, or null. */
  async detectLayout(configDir: string): Promise<Layout | null> {
    for (const layout of ['linuxserver', 'official'] as const) {
      if (await this.exists(`${configDir}/${layoutPaths(layout).database}`)) return layout;
    }
    return null;
  }

  /** Regular files under `dir`, not descending into the top-level dirs in `skipTopDirs`. */
  async treeStats(dir: string, skipTopDirs: readonly string[]): Promise<{ files: number; bytes: number }> {
    const prune: string[] = [];
    for (const d of skipTopDirs) prune.push(...(prune.length ? ['-o'] : []), '-path', `${dir}/${d}`);
    const argv = prune.length
      ? ['find', dir, '(', ...prune, ')', '-prune', '-o', '-type', 'f', '-printf', '%s\\n']
      : ['find', dir, '-type', 'f', '-printf', '%s\\n'];
    let files = 0;
    let bytes = 0;
    for (const line of (await this.run(argv, `counting files in ${dir}`)).split('\n')) {
      if (line === '') continue;
      files++;
      bytes += Number(line) || 0;
    }
    return { files, bytes };
  }

  /** Bytes available to an unprivileged writer on the filesystem holding `path`. */
  async freeBytes(path: string): Promise<number> {
    const out = await this.run(['df', '-P', '-B1', path], `checking free space of ${path}`);
    const line = out.trim().split('\n').at(-1) ?? '';
    const available = Number(line.split(/\s+/)[3]);
    if (!Number.isFinite(available)) throw new Error(`cannot read df output for ${path}: ${out}`);
    return available;
  }

  async mkdir(path: string): Promise<void> {
    await this.run(['mkdir', '-p', '--', path], `creating ${path}`);
  }

  /** Removes a tree the service owns (staging, snapshot, discard). Refuses any other path. */
  async removeOwnedTree(path: string): Promise<void> {
    if (!OWNED_SUFFIXES.some((s) => path.endsWith(s)) || !path.startsWith('/')) {
      throw new Error(`refusing to remove ${path}: not a tree owned by jellyfin-failover`);
    }
    await this.run(['rm', '-rf', '--one-file-system', '--', path], `removing ${path}`);
  }

  /** Renames a tree; fails if the target exists, so nothing is ever overwritten by a move. */
  async rename(from: string, to: string): Promise<void> {
    await this.run(['sh', '-c', MOVE, 'sh', from, to], `moving ${from} to ${to}`, {
      again: ['sh', '-c', MOVE_AGAIN, 'sh', from, to],
    });
  }

  async readText(path: string): Promise<string | null> {
    const r = await this.exec(['cat', '--', path]);
    return r.exitCode === 0 ? r.stdout : null;
  }

  /** Replaces the file by rename (never in place, so a hard-linked copy elsewhere keeps its content). */
  async writeTextAtomic(path: string, text: string): Promise<void> {
    await this.run(['sh', '-c', ATOMIC_WRITE, 'sh', path], `writing ${path}`, { input: text });
  }

  /** SQLite databases under `root` (files named like one that start with SQLite's header), relative paths. */
  async listDatabases(root: string, excludes: readonly string[]): Promise<string[]> {
    const prune = excludes
      .filter((p) => p.startsWith('/') && p.endsWith('/'))
      .flatMap((p, i) => [...(i ? ['-o'] : []), '-path', `./${p.slice(1, -1)}`]);
    const names = DATABASE_PATTERNS.flatMap((p, i) => [...(i ? ['-o'] : []), '-name', p]);
    const find = [
      'find',
      '.',
      ...(prune.length ? ['(', ...prune, ')', '-prune', '-o'] : []),
      ...filesNamed(names),
      ...forEachFound(PRINT_SQLITE_FILES),
    ];
    const out = await this.run(
      ['sh', '-c', 'cd "$1" && shift && exec "$@"', 'sh', root, ...find],
      `listing the databases in ${root}`,
    );
    const skipped = excludes.filter((p) => !p.startsWith('/')).map(globToRegExp);
    return out
      .split('\n')
      .filter((f) => f !== '' && !skipped.some((re) => re.test(f.slice(f.lastIndexOf('/') + 1))))
      .sort();
  }

  /** Every SQLite file under `dir` linked elsewhere gets a copy of its own (content, owner, mode, xattrs kept). */
  async breakDatabaseLinks(dir: string): Promise<number> {
    const names = SQLITE_PATTERNS.flatMap((p, i) => [...(i ? ['-o'] : []), '-name', p]);
    const out = await this.run(
      [
        'find',
        dir,
        '-links',
        '+1',
        ...filesNamed(names),
        ...forEachFound(
          'for f; do cp -a -- "$f" "$f.jf-failover-tmp" && mv -f -- "$f.jf-failover-tmp" "$f" && echo x; done',
        ),
      ],
      `giving the databases in ${dir} their own copies`,
    );
    return out.split('\n').filter((l) => l === 'x').length;
  }
}

/** sh over find's batch: prints each file that starts with SQLite's magic, relative to `.`. */
const PRINT_SQLITE_FILES =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a JS template
  'for f; do [ "$(head -c 15 "$f")" = "SQLite format 3" ] && printf "%s\\n" "${f#./}"; done; exit 0';

/** find: regular files with one of the `-name` tests `names`. */
function filesNamed(names: string[]): string[] {
  return ['-type', 'f', '(', ...names, ')'];
}

/** find: runs the sh `script` over the files found, as `for f; do ...` arguments, a batch at a time. */
function forEachFound(script: string): string[] {
  return ['-exec', 'sh', '-c', script, 'sh', '{}', '+'];
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replaceAll('*', '.*')
      .replaceAll('?', '.')}$`,
  );
}
