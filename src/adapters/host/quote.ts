/**
 * The one place where an argument array becomes a command line for a remote POSIX shell (SPEC 4 rule 9).
 * Every element is single-quoted, so the remote shell sees each one as a single literal word: no expansion,
 * no word splitting, no globbing, whatever it contains.
 */

/** Quotes one argument: `it's` becomes `'it'\''s'`. NUL cannot travel through a shell, so it is refused. */
export function quoteArg(arg: string): string {
  if (arg.includes('\0')) {
    throw new Error(
      `Cannot pass an argument containing a NUL byte to a remote shell: ${JSON.stringify(arg)}`,
    );
  }
  return `'${arg.replaceAll("'", "'\\''")}'`;
}

/** Quotes every element and joins them with spaces; the result runs `argv[0]` with `argv.slice(1)` exactly. */
export function quoteArgv(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('Cannot build a command line from an empty argument array');
  return argv.map(quoteArg).join(' ');
}
