import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { quoteArg, quoteArgv } from '../../../src/adapters/host/quote.js';

const TRICKY = [
  'plain',
  'with space',
  '  leading and trailing  ',
  "it's",
  "''",
  '"double" quotes',
  '$(touch /tmp/should-not-exist)',
  '`id`',
  `$HOME \${PATH} $1 $@ $*`,
  'line one\nline two\n',
  'tab\there',
  '\r\n',
  'unicode: jalapeño, Ελληνικά, 日本語, 🎬',
  '',
  '-n',
  '--help',
  '-e \\n',
  'back\\slash\\',
  '; rm -rf / #',
  'a && b || c | d > e < f & g',
  '*',
  '~',
  '!history !!',
  '{a,b}',
  '[x]',
  '#comment',
  'end with backslash \\',
];

/** What a shell passes to the program when it runs the quoted command line. */
async function throughShell(shell: string, argv: string[]): Promise<string[]> {
  // printf %s\0 prints every argument followed by NUL, so each one comes back exactly, even empty ones.
  const line = quoteArgv(['printf', '%s\\0', ...argv]);
  const { stdout } = await execa(shell, ['-c', line], { stripFinalNewline: false });
  return stdout.split('\0').slice(0, -1);
}

// dash (Debian's sh) and bash, the login shells a remote site is likely to have.
describe.each(['sh', 'bash'])('quoteArgv through %s -c', (shell) => {
  it('delivers every tricky argument to the program exactly as given', async () => {
    expect(await throughShell(shell, TRICKY)).toEqual(TRICKY);
  });

  it('keeps an empty argument as an argument of its own', async () => {
    expect(await throughShell(shell, ['', 'x', ''])).toEqual(['', 'x', '']);
  });

  it('runs no command substitution', async () => {
    const marker = `/tmp/jf-quote-${process.pid}-${Date.now()}`;
    await throughShell(shell, [`$(touch ${marker})`, `\`touch ${marker}\``]);
    const { exitCode } = await execa('test', ['-e', marker], { reject: false });
    expect(exitCode).toBe(1);
  });
});

describe('quoteArgv', () => {
  it('single-quotes every element, even a plain word', () => {
    expect(quoteArgv(['ls', '-la', "it's"])).toBe(`'ls' '-la' 'it'\\''s'`);
  });

  it('refuses a NUL byte, which no shell can carry', () => {
    expect(() => quoteArg('a\0b')).toThrow(/NUL/);
    expect(() => quoteArgv(['echo', 'a\0b'])).toThrow(/NUL/);
  });

  it('refuses an empty argument array', () => {
    expect(() => quoteArgv([])).toThrow(/empty/);
  });
});
