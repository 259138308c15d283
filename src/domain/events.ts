import type { SiteName } from '../config/schema.js';
import type { OperationKind } from './state.js';

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

/** Who hears what the engine does: the MQTT bridge, the CLI's progress bar, the log. */
export interface EngineObserver {
  event(event: FailoverEvent): void;
  operation(status: OperationStatus): void;
}

export function makeEvent(
  type: EventType,
  message: string,
  details: Omit<FailoverEvent, 'event_type' | 'message' | 'at'> = {},
): FailoverEvent {
  return { event_type: type, message, at: new Date().toISOString(), ...details };
}
