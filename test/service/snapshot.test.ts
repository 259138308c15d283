import { describe, expect, it } from 'vitest';
import { IDLE } from '../../src/domain/events.js';
import type { SiteObservation } from '../../src/domain/observe.js';
import { initialState, type PersistentState } from '../../src/domain/state.js';
import { buildSnapshot, type SiteView, type SnapshotInput } from '../../src/service/snapshot.js';

const AT = '2026-11-26T22:00:00.000Z';
const healthy = (version = '10.11.3'): SiteObservation => ({
  online: true,
  jellyfin: 'healthy',
  container: 'running',
  version,
  startedAt: AT,
  checkedAt: AT,
});
const up = (o = healthy()): SiteView => ({ observation: o, verdict: 'up', hostReachable: true });

function input(overrides: Partial<SnapshotInput> = {}, state: Partial<PersistentState> = {}): SnapshotInput {
  return {
    state: { ...initialState(), ...state },
    operation: IDLE,
    sites: { master: up(), slave: up() },
    standby: { freeBytes: 50 * 1024 ** 3, diverged: false },
    interrupted: null,
    lowSpaceBytes: 1024 ** 3,
    ...overrides,
  };
}

describe('B/state snapshot', () => {
  it('has exactly the shape of SPEC section 3', () => {
    const lastSync = {
      at: AT,
      result: 'success' as const,
      durationS: 12.3,
      bytes: 123,
      files: 45,
      primaryDowntimeS: 4.1,
      error: null,
    };
    const snap = buildSnapshot(
      input(
        { operation: { kind: 'sync', step: 'final-copy', progress: 53.2, startedAt: AT } },
        { epoch: 3, lastSync },
      ),
    );
    expect(snap).toEqual({
      primary: 'master',
      epoch: 3,
      operation: { kind: 'sync', step: 'final-copy', progress: 53.2, startedAt: AT },
      sites: {
        master: {
          online: true,
          jellyfin: 'healthy',
          container: 'running',
          version: '10.11.3',
          checkedAt: AT,
          hostReachable: true,
          downReason: null,
        },
        slave: {
          online: true,
          jellyfin: 'healthy',
          container: 'running',
          version: '10.11.3',
          checkedAt: AT,
          hostReachable: true,
          downReason: null,
        },
      },
      lastSync,
      standbyDiverged: false,
      mergePreview: null,
      problems: [],
    });
    // Survives JSON as HA reads it.
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
  });

  it('says how many changes a merge would carry while the standby diverged, and why a site is down', () => {
    const diverged = buildSnapshot(
      input({ standby: { freeBytes: null, diverged: true, merge: { changes: 3, conflicts: 1 } } }),
    );
    expect(diverged).toMatchObject({ standbyDiverged: true, mergePreview: { changes: 3, conflicts: 1 } });
    const same = buildSnapshot(
      input({ standby: { freeBytes: null, diverged: false, merge: { changes: 3, conflicts: 1 } } }),
    );
    expect(same.mergePreview).toBeNull();
    const gone: SiteView = { observation: null, verdict: 'down', hostReachable: false };
    expect(buildSnapshot(input({ sites: { master: up(), slave: gone } })).sites.slave).toMatchObject({
      online: false,
      hostReachable: false,
      downReason: 'host_unreachable',
    });
  });

  it('shows the idle operation with progress 0 and no start time, and lastSync null before any sync', () => {
    const snap = buildSnapshot(input());
    expect(snap.operation).toEqual({ kind: 'idle', step: '', progress: 0, startedAt: null });
    expect(snap.lastSync).toBeNull();
  });

  it('reports a site online only when the debounced verdict is up', () => {
    const failing: SiteView = {
      observation: { ...healthy(), online: false, jellyfin: 'unreachable' },
      verdict: 'up',
      hostReachable: true,
    };
    const down: SiteView = {
      observation: { ...healthy(), online: false, jellyfin: 'unhealthy', container: 'exited' },
      verdict: 'down',
      hostReachable: true,
    };
    const snap = buildSnapshot(input({ sites: { master: failing, slave: down } }));
    expect(snap.sites.master.online).toBe(true);
    expect(snap.sites.master.jellyfin).toBe('unreachable');
    expect(snap.sites.slave).toMatchObject({
      online: false,
      jellyfin: 'unhealthy',
      container: 'exited',
      downReason: 'container_stopped',
    });
    expect(snap.problems).toEqual(['slave (standby) is down: Jellyfin unhealthy, container exited']);
  });

  it('shows a site not yet looked at as offline and unknown', () => {
    const snap = buildSnapshot(
      input({
        sites: { master: up(), slave: { observation: null, verdict: 'unknown', hostReachable: null } },
      }),
    );
    expect(snap.sites.slave).toEqual({
      online: false,
      jellyfin: 'unreachable',
      container: 'unknown',
      version: null,
      checkedAt: null,
      hostReachable: null,
      downReason: null,
    });
    expect(snap.problems).toEqual([]);
  });

  it('lists every current problem in words a user can act on', () => {
    const snap = buildSnapshot(
      input(
        {
          sites: {
            master: { observation: null, verdict: 'down', hostReachable: false },
            slave: up(healthy('10.10.7')),
          },
          standby: { freeBytes: 100 * 1024 ** 2, diverged: true },
          interrupted: { kind: 'sync', step: 'final-copy' },
          serviceProblems: ['recovery at start failed: disk full'],
        },
        {
          primary: 'slave',
          fence: { site: 'master', previousRestartPolicy: 'unless-stopped', pending: true },
          lastSync: {
            at: AT,
            result: 'rolled_back',
            durationS: 3,
            bytes: 0,
            files: 0,
            primaryDowntimeS: 0,
            error: 'verify: quick_check failed',
          },
        },
      ),
    );
    expect(snap.standbyDiverged).toBe(true);
    expect(snap.problems).toEqual([
      'master (standby): its host cannot be reached',
      'master (standby) is down: Jellyfin unreachable, container unknown',
      'master was demoted while unreachable: it is fenced (stopped) as soon as it can be reached',
      'master (standby) was written to since the last sync: merge it into the primary to keep that data (Merge button, jellyfin-failover merge), or force a sync to discard it',
      'master (standby) has only 100.0 MiB free for its config directory',
      'the last operation failed and was rolled back: verify: quick_check failed',
      'sync was interrupted at final-copy: it is recovered at the next start or operation',
      'recovery at start failed: disk full',
    ]);
  });

  it('names a version mismatch, and does not call a fenced master "down"', () => {
    const snap = buildSnapshot(
      input(
        {
          sites: {
            master: {
              observation: { ...healthy(), container: 'exited' },
              verdict: 'down',
              hostReachable: true,
            },
            slave: up(healthy('10.11.4')),
          },
        },
        { primary: 'slave', fence: { site: 'master', previousRestartPolicy: 'always', pending: false } },
      ),
    );
    expect(snap.problems).toEqual([
      'master runs Jellyfin 10.11.3 and slave 10.11.4: promote and failback are refused',
    ]);
  });
});
