import type { Layout } from '../layout.js';
import type { SiteName } from '../sites.js';
import type { OperationKind, PersistentState } from '../state.js';
import type { OperationRun } from './run.js';

export interface EngineSettings {
  /** Paths no copy takes (rsync patterns anchored at the config dir): built-in plus SYNC_EXCLUDES. */
  excludes: readonly string[];
  precopy: boolean;
  /** SYNC_MODE: a routine sync online (the primary never stops), stopped, or whichever the source allows. */
  syncMode: 'auto' | 'online' | 'stopped';
  stopTimeoutS: number;
  startTimeoutS: number;
  /** Empty: no banner. */
  slaveBanner: string;
  layout: Layout | 'auto';
  /** How often to poll `/health` while waiting for a start. */
  healthPollMs: number;
}

/** One named step of an operation. Its undo is recorded (run.undoFirst) before the change it undoes. */
export interface Step {
  name: string;
  /** Share of the operation's progress bar. */
  weight: number;
  run(run: OperationRun): Promise<void>;
}

export function step(name: string, weight: number, run: (r: OperationRun) => Promise<void>): Step {
  return { name, weight, run };
}

export interface OperationPlan {
  kind: OperationKind;
  steps: Step[];
  /** Events and state once every step succeeded (before the journal is cleared). */
  succeeded(run: OperationRun): void;
}

/** A plan chosen from the state, with the copy's direction (for rollback: the restored site, twice over). */
export interface PreparedPlan {
  plan: OperationPlan;
  from: SiteName;
  to: SiteName;
}

export type PlanFor = (state: PersistentState) => PreparedPlan;

export interface OperationResult {
  id: string;
  kind: OperationKind;
  durationS: number;
  bytes: number;
  files: number;
  primaryDowntimeS: number;
  state: PersistentState;
}
