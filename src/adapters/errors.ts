/** A command run on a site (rsync, ssh, docker exec, sqlite3) failed; the message says which and where. */
export class CommandError extends Error {
  override readonly name: string = 'CommandError';
  constructor(
    message: string,
    readonly command: string,
    readonly exitCode: number | undefined,
    readonly stderr: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
