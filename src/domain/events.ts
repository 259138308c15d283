import type { SiteName } from './sites.js';
import type { OperationKind, PersistentState } from './state.js';

/** SPEC section 3: the event types on `B/event`. */
export const EVENT_TYPES = [
  'sync_started',
  'sync_succeeded',
  'sync_failed',
  'promoted',
  'failed_back',
  'rolled_back',
  'rollback_failed',
  'site_down',
  'site_up',
  'standby_diverged',
  'merged',
  'command_rejected',
  'recovered_after_crash',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface FailoverEvent {
  event_type: EventType;
  /** One sentence for a phone notification. */
  message: string;
  at: string;
  operation?: OperationKind;
  site?: SiteName;
  step?: string;
  error?: string;
  [detail: string]: unknown;
}

/** The operation in progress, as `B/state.operation` shows it. */
export interface OperationStatus {
  kind: OperationKind | 'idle';
  step: string;
  progress: number;
  startedAt: string | null;
}

export const IDLE: OperationStatus = { kind: 'idle', step: '', progress: 0, startedAt: null };

/** Who hears what the engine does: the MQTT bridge's state publisher, the CLI's progress bar, the log. */
export interface EngineObserver {
  event(event: FailoverEvent): void;
  operation(status: OperationStatus): void;
  /** The persistent state was saved: the new facts, so nobody has to read state.json to learn them. */
  state(state: PersistentState): void;
}

export function makeEvent(
  type: EventType,
  message: string,
  details: Omit<FailoverEvent, 'event_type' | 'message' | 'at'> = {},
): FailoverEvent {
  return { event_type: type, message, at: new Date().toISOString(), ...details };
}

/** Fans the engine's reports out to whoever listens. A listener may leave out what it does not need. */
export class ObserverHub implements EngineObserver {
  private readonly listeners = new Set<Partial<EngineObserver>>();

  add(listener: Partial<EngineObserver>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  event(event: FailoverEvent): void {
    for (const l of this.listeners) l.event?.(event);
  }

  operation(status: OperationStatus): void {
    for (const l of this.listeners) l.operation?.(status);
  }

  state(state: PersistentState): void {
    for (const l of this.listeners) l.state?.(state);
  }
}
