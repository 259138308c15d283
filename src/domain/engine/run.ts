import { randomUUID } from 'node:crypto';
import type { EngineObserver, FailoverEvent, OperationStatus } from '../events.js';
import { round1 } from '../format.js';
import type { Journal, UndoAction, UndoKind } from '../journal.js';
import type { Layout } from '../layout.js';
import type { Log } from '../log.js';
import type { CopyRequest, Site, StateStore, TrafficSwitch, TransferStats } from '../ports.js';
import { other, type SiteName } from '../sites.js';
import type { ContainerBefore, OperationKind, PersistentState } from '../state.js';
import type { WatchState } from '../watch-state.js';
import type { EngineSettings, OperationPlan } from './plan.js';

/** What a run reaches the world through: handed over by the engine, never by the steps themselves. */
export interface RunWorld {
  sites: Record<SiteName, Site>;
  store: StateStore;
  copier: { copy(request: CopyRequest): Promise<TransferStats> };
  traffic: TrafficSwitch;
  settings: EngineSettings;
  observer: EngineObserver;
}

/**
 * One operation while it runs. Steps read and fill it, and reach the world only through its methods and the two
 * sites' ports (`from`, `to`, `site()`): recording undos, copying, switching traffic, reporting progress and events.
 */
export class OperationRun {
  readonly startedMs = Date.now();
  readonly journal: Journal;
  /** The state to commit; starts as a copy of the state before the operation. */
  readonly next: PersistentState;
  layout: Layout | null = null;
  /** Containers' running state and restart policy before the operation. */
  readonly containersBefore: Record<SiteName, ContainerBefore | null> = { master: null, slave: null };
  /** The copy's watch-state digest (rule 3), or why it could not be read; null before the copy is verified. */
  fingerprint: { value: string | null; unknown?: string; token?: string } | null = null;
  /** The copy's watch state: the base a later merge compares both sides with. */
  watchBase: WatchState | null = null;
  readonly details: Record<string, unknown> = {};
  private bytesCopied = 0;
  private filesCopied = 0;
  private downtimeFrom: number | null = null;
  private downtimeTo: number | null = null;
  private stepIndex = 0;
  private stepFraction = 0;

  constructor(
    private readonly world: RunWorld,
    readonly plan: OperationPlan,
    readonly before: PersistentState,
    readonly force: boolean,
    /** Copy source and destination (for rollback: the site whose snapshot is restored, twice). */
    readonly from: Site,
    readonly to: Site,
    log: Log,
  ) {
    this.next = structuredClone(before);
    this.journal = {
      id: randomUUID(),
      kind: plan.kind,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      force,
      step: 'start',
      undo: [],
      committed: false,
    };
    this.log = log.child({ operation: plan.kind, id: this.journal.id });
  }

  /** The operation's own logger: its kind and id on every line. */
  readonly log: Log;

  get kind(): OperationKind {
    return this.plan.kind;
  }

  get settings(): EngineSettings {
    return this.world.settings;
  }

  get bytes(): number {
    return this.bytesCopied;
  }

  get files(): number {
    return this.filesCopied;
  }

  /** The saved watch state of copies and the merge record (issue 13). */
  get merges(): Pick<StateStore, 'loadBase' | 'loadMerge' | 'saveMerge'> {
    return this.world.store;
  }

  /** Notes in the journal (on disk) that a merge applied `id` to the primary. */
  async mergeApplied(record: string, id: string): Promise<void> {
    if (this.journal.merged?.record !== record) this.journal.merged = { record, applied: [] };
    this.journal.merged.applied.push(id);
    await this.world.store.writeJournal(this.journal);
  }

  site(name: SiteName): Site {
    return this.world.sites[name];
  }

  /** Writes the undo to the journal (on disk) before the caller makes the change. */
  async undoFirst(action: UndoAction): Promise<void> {
    this.journal.undo.push(action);
    await this.world.store.writeJournal(this.journal);
  }

  /** The recorded undos of `kind` no longer apply (what they would put back is gone for good). */
  async releaseUndo(kind: UndoKind): Promise<void> {
    this.journal.undo = this.journal.undo.filter((u) => u.kind !== kind);
    await this.world.store.writeJournal(this.journal);
  }

  /** Copies between sites; progress fills the current step's share between `share[0]` and `share[1]`. */
  async copy(
    request: Omit<CopyRequest, 'onProgress' | 'dryRun'>,
    share: [number, number] = [0, 1],
  ): Promise<TransferStats> {
    const [lo, hi] = share;
    const stats = await this.world.copier.copy({
      ...request,
      onProgress: (p) => this.stepProgress(lo + (p.percent / 100) * (hi - lo)),
    });
    this.bytesCopied += stats.bytes;
    this.filesCopied += stats.files;
    return stats;
  }

  /** What a copy would transfer, without transferring it. */
  estimate(request: Omit<CopyRequest, 'onProgress' | 'dryRun'>): Promise<TransferStats> {
    return this.world.copier.copy({ ...request, dryRun: true });
  }

  async switchTraffic(primary: SiteName): Promise<void> {
    await this.world.traffic.switchTo(primary, other(primary));
  }

  emit(event: FailoverEvent): void {
    this.world.observer.event(event);
  }

  /** The primary stops serving now (its container is being stopped). */
  downtimeStarts(): void {
    this.downtimeFrom = Date.now();
  }

  /** The primary serves again. */
  downtimeEnds(): void {
    this.downtimeTo = Date.now();
  }

  /** Progress inside the current step, 0..1. */
  stepProgress(fraction: number): void {
    this.stepFraction = Math.max(0, Math.min(1, fraction));
    this.world.observer.operation(this.status());
  }

  /** Engine only: the run enters step `index`. */
  async enterStep(index: number, name: string): Promise<void> {
    this.stepIndex = index;
    this.stepFraction = 0;
    this.journal.step = name;
    await this.world.store.writeJournal(this.journal);
    this.world.observer.operation(this.status());
  }

  status(): OperationStatus {
    const steps = this.plan.steps;
    const total = steps.reduce((s, st) => s + st.weight, 0) || 1;
    const done = steps.slice(0, this.stepIndex).reduce((s, st) => s + st.weight, 0);
    const current = (steps[this.stepIndex]?.weight ?? 0) * this.stepFraction;
    return {
      kind: this.plan.kind,
      step: this.journal.step,
      progress: Math.min(100, Math.round(((done + current) / total) * 1000) / 10),
      startedAt: this.journal.startedAt,
    };
  }

  durationS(): number {
    return round1((Date.now() - this.startedMs) / 1000);
  }

  downtimeS(): number {
    if (this.downtimeFrom === null) return 0;
    return round1(((this.downtimeTo ?? Date.now()) - this.downtimeFrom) / 1000);
  }
}
