/**
 * SPEC 4 rule 7: the process killed at any point of any operation, and the next start recovering from the journal
 * alone. Over in-memory ports (test/support/memory-world.ts), every port call of every step is a crash point: the
 * world is frozen there, a new engine recovers, and everything is as before the operation (or as after it, when it
 * had committed). The real SIGKILL of the CLI and the service is proven on the bench (fault-crash.int.test.ts,
 * test/service/process.int.test.ts).
 */
import { describe, expect, it } from 'vitest';
import type { OperationKind } from '../../../src/domain/state.js';
import { type Bench, createBench, worldFacts } from '../../support/memory-world.js';

type Arrange = (b: Bench) => Promise<void>;

const cases: Array<{ kind: OperationKind; arrange: Arrange; online?: boolean }> = [
  { kind: 'sync', arrange: async () => undefined },
  { kind: 'sync', arrange: async () => undefined, online: true },
  {
    kind: 'sync',
    arrange: async (b) => {
      await b.operations.run('sync', { force: false }); // a snapshot from a previous sync exists
    },
  },
  { kind: 'promote', arrange: async () => undefined },
  {
    kind: 'failback',
    arrange: async (b) => {
      await b.operations.run('promote', { force: false });
    },
  },
  {
    kind: 'rollback',
    arrange: async (b) => {
      await b.operations.run('promote', { force: false });
    },
  },
];

/** The steps of an operation and how many port calls each makes, from one undisturbed run. */
async function callsPerStep(
  kind: OperationKind,
  arrange: Arrange,
  online = false,
): Promise<Map<string, number>> {
  const b = createBench(online ? { syncMode: 'online' } : {});
  await arrange(b);
  b.world.log.length = 0;
  await b.operations.run(kind, { force: false });
  const calls = new Map<string, number>();
  for (const line of b.world.log) {
    const step = line.slice(0, line.indexOf(':'));
    calls.set(step, (calls.get(step) ?? 0) + 1);
  }
  return calls;
}

/** Lets the frozen operation run until the crash point (or to its end). */
async function untilCrashedOrDone(b: Bench, op: Promise<unknown>): Promise<'crashed' | 'done'> {
  let done = false;
  op.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  for (let i = 0; i < 10_000 && !b.world.crashed && !done; i++) await new Promise((r) => setImmediate(r));
  return b.world.crashed ? 'crashed' : 'done';
}

describe('crash recovery from every point (rule 7)', () => {
  for (const { kind, arrange, online } of cases) {
    const what = `${kind}${online ? ' (online)' : ''}${arrange.toString().includes('run(') ? ' after an earlier operation' : ''}`;
    it(`${what}: killed at any port call, then recovered`, async () => {
      const steps = await callsPerStep(kind, arrange, online);
      expect(steps.size).toBeGreaterThan(3);
      let points = 0;
      for (const [step, calls] of steps) {
        for (let at = 0; at <= calls; at++) {
          const b = createBench(online ? { syncMode: 'online' } : {});
          await arrange(b);
          const before = worldFacts(b);
          const eventsBefore = b.events.length;
          b.world.crashAt = { step, calls: at };
          const outcome = await untilCrashedOrDone(b, b.operations.run(kind, { force: false }));
          if (outcome === 'done') continue; // the step made fewer calls this time: no crash point here
          points++;
          const committed = b.store.journal?.committed ?? false;
          const hadJournal = b.store.journal !== null;
          b.restart();
          const recovered = await b.operations.recover();
          const where = `${kind} killed at ${step} call ${at}`;
          if (!hadJournal) {
            expect(recovered, where).toBe('none');
          } else {
            expect(recovered, where).toBe(committed ? 'completed' : 'rolled_back');
            expect(
              b.events.slice(eventsBefore).map((e) => e.event_type),
              where,
            ).toContain('recovered_after_crash');
          }
          expect(b.store.journal, where).toBeNull();
          const after = worldFacts(b);
          if (committed) {
            expect(after.leftovers, where).toEqual([]);
          } else {
            expect(after, where).toEqual(before);
          }
          // and the world works: the same operation now succeeds from there
          if (!committed)
            await expect(b.operations.run(kind, { force: false }), where).resolves.toMatchObject({ kind });
        }
      }
      expect(points).toBeGreaterThan(20);
    });
  }
});
