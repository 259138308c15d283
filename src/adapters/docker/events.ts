/**
 * Docker's event stream for the containers the monitor watches: a stopped or dead container is seen at once,
 * not at the next poll.
 */
import type { Duplex } from 'node:stream';
import type Dockerode from 'dockerode';

export type ContainerEventAction = 'start' | 'stop' | 'die' | 'health_status' | 'destroy';

export interface ContainerEvent {
  /** Container name (without the leading slash). */
  container: string;
  action: ContainerEventAction;
  /** For `health_status`: healthy, unhealthy or starting. */
  health?: string;
  /** For `die`. */
  exitCode?: number;
  time: Date;
}

interface RawDockerEvent {
  Type?: string;
  Action?: string;
  Actor?: { Attributes?: Record<string, string> };
  time?: number;
  timeNano?: number;
}

function toContainerEvent(raw: RawDockerEvent, names: ReadonlySet<string>): ContainerEvent | null {
  if (raw.Type !== 'container' || typeof raw.Action !== 'string') return null;
  const container = raw.Actor?.Attributes?.name;
  if (!container || !names.has(container)) return null;
  const time = new Date(raw.timeNano ? raw.timeNano / 1e6 : (raw.time ?? 0) * 1000);
  const [verb, detail] = raw.Action.split(/:\s*/, 2);
  switch (verb) {
    case 'start':
    case 'stop':
    case 'destroy':
      return { container, action: verb, time };
    case 'die': {
      const exitCode = Number(raw.Actor?.Attributes?.exitCode);
      return { container, action: 'die', time, ...(Number.isFinite(exitCode) ? { exitCode } : {}) };
    }
    case 'health_status':
      return { container, action: 'health_status', time, ...(detail ? { health: detail.trim() } : {}) };
    default:
      return null;
  }
}

/**
 * Follows Docker's event stream for the named containers until `signal` aborts (resolves) or the stream breaks
 * (rejects: the caller decides when to subscribe again).
 */
export async function watchEvents(
  docker: Dockerode,
  names: readonly string[],
  onEvent: (event: ContainerEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  if (signal.aborted) return;
  const wanted = new Set(names);
  const options = {
    filters: { type: ['container'], container: [...names] },
    abortSignal: signal,
  } as Dockerode.GetEventsOptions;
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.getEvents(options);
  } catch (err) {
    if (signal.aborted) return;
    throw err;
  }
  await new Promise<void>((resolve, reject) => {
    let buffered = '';
    const onAbort = () => {
      (stream as unknown as Duplex).destroy?.();
      resolve();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    stream.on('data', (chunk: Buffer | string) => {
      buffered += chunk.toString();
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
        if (line === '') continue;
        let raw: RawDockerEvent;
        try {
          raw = JSON.parse(line) as RawDockerEvent;
        } catch {
          continue;
        }
        const event = toContainerEvent(raw, wanted);
        if (event) onEvent(event);
      }
    });
    const ended = (err?: unknown) => {
      signal.removeEventListener('abort', onAbort);
      if (signal.aborted) resolve();
      else reject(err instanceof Error ? err : new Error('The Docker event stream ended'));
    };
    stream.on('error', ended);
    stream.on('end', () => ended());
    stream.on('close', () => ended());
  });
}
