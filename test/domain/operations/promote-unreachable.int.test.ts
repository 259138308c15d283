import { describe, expect, it } from 'vitest';
import type { FailoverEvent } from '../../../src/domain/events.js';
import { BENCH_POLICIES, sitesPerTest } from '../../bench/sites.js';

describe('promote with master unreachable (rule 8: fencing)', () => {
  const fixture = sitesPerTest();

  it('promotes slave without a copy, says how old its data is, and fences master once it is back', async () => {
    const sites = await fixture.create({ name: 'unreach', remote: 'master', masterWriteMs: 0 });
    const rt = fixture.runtime(sites);
    const events: FailoverEvent[] = [];
    rt.observers.add({ event: (e) => events.push(e), operation: () => undefined });
    await rt.operations.run('sync', { force: false });

    // master's host drops off the network (its SSH and Docker-over-SSH are gone; the container keeps running)
    await sites.sshd?.kill();
    const promoted = await rt.operations.run('promote', { force: false });
    expect(promoted.state.primary).toBe('slave');
    expect(promoted.state.fence).toMatchObject({ site: 'master', pending: true });
    const event = events.find((e) => e.event_type === 'promoted');
    expect(event?.copied).toBe(false);
    expect(typeof event?.dataAgeS).toBe('number');
    expect(event?.message).toMatch(/slave's data is from the sync \d+ s ago/);
    expect(await rt.sites.slave.jellyfin.health()).toBe('healthy');

    // while master is unreachable nothing can be fenced
    expect(await rt.operations.fencePending()).toBe(false);

    // master comes back: it is stopped and kept from restarting, so its stale data does not go online
    await sites.sshd?.restart();
    expect(await rt.operations.fencePending()).toBe(true);
    const master = await rt.sites.master.container.inspect();
    expect(master.status).toBe('exited');
    expect(master.restartPolicy).toBe('no');
    const state = await rt.store.load();
    expect(state.fence).toEqual({
      site: 'master',
      previousRestartPolicy: BENCH_POLICIES.master,
      pending: false,
    });

    // failback gives master its restart policy back
    const back = await rt.operations.run('failback', { force: false });
    expect(back.state.primary).toBe('master');
    const after = await rt.sites.master.container.inspect();
    expect(after.status).toBe('running');
    expect(after.restartPolicy).toBe(BENCH_POLICIES.master);
  });
});
