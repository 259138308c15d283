export interface ConfigProblem {
  variable: string;
  message: string;
}

/** Bad configuration: every problem at once, by variable name, with the fix. The CLI exits with code 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: ConfigProblem[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems
        .map((p) => `  ${p.variable} ${p.message}`)
        .join('\n')}\nNothing was changed. Fix these in .env (or the environment) and run again.`,
    );
  }
}
