import { constants } from 'node:os';
import { StringDecoder } from 'node:string_decoder';
import { execa } from 'execa';
import type { ExecOptions, ExecResult, HostShell } from '../../domain/ports.js';

/** Exit codes for outcomes that have none of their own, as shells and timeout(1) report them. */
export const EXIT_TIMED_OUT = 124;
export const EXIT_ABORTED = 130;
const EXIT_NOT_EXECUTABLE = 126;
const EXIT_NOT_FOUND = 127;

/**
 * Runs programs on the machine the service runs on. The argument array goes straight to the program (no shell),
 * stdout/stderr are returned as they were written (no trimming), and a non-zero exit, a timeout or an abort
 * resolves with an exit code and a note on stderr instead of throwing.
 */
export class LocalShell implements HostShell {
  readonly label = 'local';
  readonly isLocal = true;

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const [file, ...args] = argv;
    if (file === undefined) throw new Error('LocalShell.exec needs at least the program name');
    if (options.signal?.aborted) {
      return {
        exitCode: EXIT_ABORTED,
        stdout: '',
        stderr: `[jellyfin-failover] ${argv.join(' ')} was aborted\n`,
      };
    }
    const subprocess = execa(file, args, {
      reject: false,
      stripFinalNewline: false,
      ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
      ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
      ...(options.signal === undefined ? {} : { cancelSignal: options.signal }),
    });
    const onStdout = options.onStdout;
    if (onStdout) {
      const decoder = new StringDecoder('utf8');
      subprocess.stdout?.on('data', (chunk: Buffer) => {
        const text = decoder.write(chunk);
        if (text !== '') onStdout(text);
      });
      subprocess.stdout?.on('end', () => {
        const rest = decoder.end();
        if (rest !== '') onStdout(rest);
      });
    }
    const result = await subprocess;
    const stdout = typeof result.stdout === 'string' ? result.stdout : '';
    const stderr = typeof result.stderr === 'string' ? result.stderr : '';
    const command = argv.join(' ');

    if (result.timedOut) {
      return {
        exitCode: EXIT_TIMED_OUT,
        stdout,
        stderr: `${stderr}[jellyfin-failover] ${command} timed out after ${options.timeoutMs} ms and was stopped\n`,
      };
    }
    if (result.isCanceled) {
      return {
        exitCode: EXIT_ABORTED,
        stdout,
        stderr: `${stderr}[jellyfin-failover] ${command} was aborted\n`,
      };
    }
    if (typeof result.exitCode === 'number') return { exitCode: result.exitCode, stdout, stderr };
    if (result.signal) {
      const number = constants.signals[result.signal] ?? 0;
      return {
        exitCode: 128 + number,
        stdout,
        stderr: `${stderr}[jellyfin-failover] ${command} was killed by ${result.signal}\n`,
      };
    }
    // The program could not be started at all (missing, not executable): report it as a shell would.
    const code = result.code;
    return {
      exitCode: code === 'EACCES' ? EXIT_NOT_EXECUTABLE : EXIT_NOT_FOUND,
      stdout,
      stderr: `${stderr}[jellyfin-failover] cannot run ${file}: ${result.originalMessage ?? result.shortMessage}\n`,
    };
  }
}
