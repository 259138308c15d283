/**
 * Work that must run again when asked while it runs (a poll, a rebuild of the snapshot), but never twice at once:
 * a call during a run makes that run go once more, and resolves when it is done.
 */
export class Rerun {
  private running: Promise<void> | null = null;
  private again = false;

  constructor(private readonly work: () => Promise<void>) {}

  run(): Promise<void> {
    if (this.running !== null) {
      this.again = true;
      return this.running;
    }
    const running = (async () => {
      try {
        do {
          this.again = false;
          await this.work();
        } while (this.again);
      } finally {
        this.running = null;
      }
    })();
    this.running = running;
    return running;
  }

  /** Resolves when the current run (if any) is done. */
  settled(): Promise<void> {
    return this.running ?? Promise.resolve();
  }
}
