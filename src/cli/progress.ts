import type { OperationStatus } from '../domain/events.js';

/**
 * Shows an operation's progress: a redrawn bar on a TTY, otherwise one line per step and per 10 %.
 */
export class ProgressPrinter {
  private lastStep = '';
  private lastDecile = -1;
  private drawn = false;

  constructor(private readonly out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }) {}

  update(status: OperationStatus): void {
    if (status.kind === 'idle') {
      this.finish();
      return;
    }
    if (this.out.isTTY) {
      const width = 30;
      const filled = Math.round((status.progress / 100) * width);
      const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
      this.out.write(
        `\r\x1b[2K${status.kind} [${bar}] ${status.progress.toFixed(0).padStart(3)}% ${status.step}`,
      );
      this.drawn = true;
      return;
    }
    const decile = Math.floor(status.progress / 10);
    if (status.step !== this.lastStep || decile !== this.lastDecile) {
      this.out.write(`${status.kind}: ${status.step} ${status.progress.toFixed(0)}%\n`);
      this.lastStep = status.step;
      this.lastDecile = decile;
    }
  }

  finish(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
