/**
 * The `B/state` publisher against in-memory stand-ins for the gate, engine, store and monitor (pure logic: no
 * broker needed; the broker path is covered by commands.int.test.ts).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/domain/engine/engine.js';
import type { OperationGate } from '../../src/domain/engine/gate.js';
import { IDLE, type OperationStatus } from '../../src/domain/events.js';
import type { StateStore } from '../../src/domain/ports.js';
import { initialState } from '../../src/domain/state.js';
import type { HealthMonitor } from '../../src/service/monitor.js';
import { StatePublisher } from '../../src/service/publisher.js';
import type { StateSnapshot } from '../../src/service/snapshot.js';

const SINCE = '2026-12-02T01:00:00.000Z';
const quiet = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet } as never;

async function harness() {
  let engineStatus: OperationStatus = IDLE;
  let local: { owner: 'sync'; since: string } | null = null;
  const published: StateSnapshot[] = [];
  const site = { observation: null, verdict: 'unknown', hostReachable: null };
  const publisher = new StatePublisher({
    store: { load: async () => initialState(), readJournal: async () => null } as unknown as StateStore,
    gate: {
      get local() {
        return local;
      },
      activity: async () => null,
    } as unknown as OperationGate,
    engine: { status: () => engineStatus } as unknown as Engine,
    monitor: {
      sitesView: () => ({ master: site, slave: site }),
      standbyView: () => ({
        site: 'slave',
        freeBytes: null,
        diverged: false,
        divergence: { kind: 'unchecked' },
        merge: null,
      }),
    } as unknown as HealthMonitor,
    log: quiet,
    options: {
      stateDir: await mkdtemp(join(tmpdir(), 'jf-publisher-')),
      progressEveryMs: 60_000,
      throttleMs: 1,
      lowSpaceBytes: 0,
    },
    problems: () => [],
    publish: async (text) => {
      published.push(JSON.parse(text) as StateSnapshot);
    },
    operationEnded: () => undefined,
  });
  return {
    publisher,
    published,
    set(next: { local?: typeof local; engine?: OperationStatus }) {
      if ('local' in next) local = next.local ?? null;
      if (next.engine) engineStatus = next.engine;
    },
  };
}

describe('B/state publisher', () => {
  it('never shows a running operation going backwards once the engine has finished its steps', async () => {
    const h = await harness();
    await h.publisher.start();
    h.set({ local: { owner: 'sync', since: SINCE } });
    await h.publisher.refresh(true);
    h.set({ engine: { kind: 'sync', step: 'swap', progress: 90.6, startedAt: SINCE } });
    await h.publisher.refresh(true);
    // The engine reports idle while the gate is still held (the result is being saved).
    h.set({ engine: IDLE });
    await h.publisher.refresh(true);
    h.set({ local: null });
    await h.publisher.refresh(true);
    h.publisher.stop();

    expect(h.published.map((s) => [s.operation.kind, s.operation.step, s.operation.progress])).toEqual([
      ['idle', '', 0],
      ['sync', 'starting', 0],
      ['sync', 'swap', 90.6],
      ['sync', 'swap', 100],
      ['idle', '', 0],
    ]);
  });
});
