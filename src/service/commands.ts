/**
 * Parsing of `B/command/<name>` messages (SPEC section 3) into typed commands, at the edge. Pure: the bridge
 * decides what to run; this only says what a message asks for, or why it is rejected.
 */
import { z } from 'zod';
import { PAYLOAD_PRESS } from '../adapters/mqtt/discovery.js';
import { OPERATION_KINDS, type OperationKind } from '../domain/state.js';

/**
 * The command names of SPEC section 3: the four operations, `merge` (a sync that first merges a diverged standby
 * into the primary) and `check` (probe now, publish the state).
 */
export const COMMAND_NAMES = [...OPERATION_KINDS, 'merge', 'check'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

/** Larger payloads are not read at all: a button sends 5 bytes, the JSON form about 15. */
export const MAX_PAYLOAD_BYTES = 256;

export type ParsedCommand =
  | { kind: 'operation'; operation: OperationKind; force: boolean; merge: boolean }
  | { kind: 'check' }
  /** Retained messages are stale presses replayed by the broker: dropped without an event. */
  | { kind: 'ignored'; reason: string }
  | { kind: 'rejected'; command: string; reason: string };

const jsonPayload = z.strictObject({ force: z.boolean().optional() });
const utf8 = new TextDecoder('utf-8', { fatal: true });

function isCommandName(name: string): name is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(name);
}

/** Shortens untrusted text for messages and logs: printable ASCII only, at most 40 characters. */
export function describeUntrusted(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 40 ? `${clean.slice(0, 40)}...` : clean;
}

/**
 * What a message on `<commandPrefix>/<name>` asks for. `commandPrefix` is `B/command`.
 * Accepted payloads: `PRESS` (what HA's button sends), or a JSON object `{}` / `{"force":true|false}`.
 */
export function parseCommand(
  commandPrefix: string,
  topic: string,
  payload: Uint8Array,
  retained: boolean,
): ParsedCommand {
  const name = topic.startsWith(`${commandPrefix}/`) ? topic.slice(commandPrefix.length + 1) : topic;
  if (retained) {
    return {
      kind: 'ignored',
      reason: `retained message on ${describeUntrusted(topic)}: a command must be a fresh, non-retained publish`,
    };
  }
  if (!isCommandName(name)) {
    return {
      kind: 'rejected',
      command: describeUntrusted(name),
      reason: `unknown command "${describeUntrusted(name)}": use one of ${COMMAND_NAMES.join(', ')}`,
    };
  }
  const bad = (why: string): ParsedCommand => ({
    kind: 'rejected',
    command: name,
    reason: `bad payload for ${name}: ${why}; send ${PAYLOAD_PRESS} or {"force":true}`,
  });
  if (payload.byteLength > MAX_PAYLOAD_BYTES) return bad(`${payload.byteLength} bytes is too long`);
  let text: string;
  try {
    text = utf8.decode(payload).trim();
  } catch {
    return bad('not UTF-8 text');
  }
  let force = false;
  if (text !== PAYLOAD_PRESS) {
    if (!text.startsWith('{'))
      return bad(`"${describeUntrusted(text)}" is neither ${PAYLOAD_PRESS} nor JSON`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return bad('invalid JSON');
    }
    const parsed = jsonPayload.safeParse(json);
    if (!parsed.success) return bad('the JSON object may only hold "force": true or false');
    force = parsed.data.force ?? false;
  }
  if (name === 'check') return { kind: 'check' };
  if (name === 'merge') return { kind: 'operation', operation: 'sync', force, merge: true };
  return { kind: 'operation', operation: name, force, merge: false };
}
