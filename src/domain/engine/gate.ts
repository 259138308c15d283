/**
 * The operation gate: the one owner of "is an operation running", for this process and, through the lock file,
 * for every other process on this STATE_DIR (the CLI next to the service). A press is claimed synchronously, so a
 * burst of presses runs exactly one operation; nothing is ever queued (SPEC section 3).
 */
import { RefusedError } from '../errors.js';
import type { LockHolder, OperationLock } from '../ports.js';
import type { OperationKind } from '../state.js';

export type GateOwner = OperationKind | 'recovery' | 'fence';

export interface Activity {
  owner: string;
  since: string;
  pid: number;
  /** true: this process holds the gate; false: another process holds the lock. */
  here: boolean;
}

export interface GateTicket {
  /** Takes the lock file (rejects with RefusedError `busy` when another process holds it). */
  lock(): Promise<{ staleOwner: string | null }>;
  /** Gives up the lock file (if taken) and the gate. Safe to call twice. */
  release(): Promise<void>;
}

export class OperationGate {
  private held: { owner: GateOwner; since: string } | null = null;

  constructor(private readonly lockFile: OperationLock) {}

  /** What this process runs now, or null. Synchronous. */
  get local(): { owner: GateOwner; since: string } | null {
    return this.held;
  }

  /** Claims the gate now or throws RefusedError(`busy`): nothing waits. */
  enter(owner: GateOwner): GateTicket {
    if (this.held) {
      throw new RefusedError(
        `${describe(this.held.owner)} is running (since ${this.held.since}); ${describe(owner)} was not started and nothing was queued.`,
        'busy',
      );
    }
    const held = { owner, since: new Date().toISOString() };
    this.held = held;
    let lock: { release(): Promise<void> } | null = null;
    let released = false;
    return {
      lock: async () => {
        const taken = await this.lockFile.acquire(owner);
        lock = taken;
        return { staleOwner: taken.staleOwner };
      },
      release: async () => {
        if (released) return;
        released = true;
        try {
          await lock?.release();
        } finally {
          if (this.held === held) this.held = null;
        }
      },
    };
  }

  /** Runs `body` holding the gate and the lock file. */
  async run<T>(owner: GateOwner, body: (lock: { staleOwner: string | null }) => Promise<T>): Promise<T> {
    const ticket = this.enter(owner);
    try {
      return await body(await ticket.lock());
    } finally {
      await ticket.release();
    }
  }

  /** Whatever runs now: in this process, or in another one holding the lock file. */
  async activity(): Promise<Activity | null> {
    if (this.held) return { owner: this.held.owner, since: this.held.since, pid: process.pid, here: true };
    const holder: LockHolder | null = await this.lockFile.holder();
    if (!holder || holder.pid === process.pid) return null;
    return { owner: holder.owner, since: holder.at, pid: holder.pid, here: false };
  }
}

function describe(owner: string): string {
  switch (owner) {
    case 'recovery':
      return 'recovery of an interrupted operation';
    case 'fence':
      return 'fencing of the demoted site';
    default:
      return owner;
  }
}
