import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileStateStore } from '../../../src/adapters/files/state-store.js';
import { initialState } from '../../../src/domain/state.js';

describe('state directory', () => {
  it('starts with master primary, and round-trips the state', async () => {
    const store = new FileStateStore(await mkdtemp(join(tmpdir(), 'jf-state-')));
    const s = await store.load();
    expect(s).toEqual(initialState());
    s.primary = 'slave';
    s.epoch = 4;
    await store.save(s);
    expect((await store.load()).primary).toBe('slave');
  });

  it('refuses a corrupt state file with a clear message and leaves it alone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jf-state-'));
    await writeFile(join(dir, 'state.json'), '{"primary":"elsewhere"}');
    await expect(new FileStateStore(dir).load()).rejects.toThrow(/state\.json is not a valid state file/);
    expect(await readFile(join(dir, 'state.json'), 'utf8')).toBe('{"primary":"elsewhere"}');
  });

  it('journal survives as written and is cleared', async () => {
    const store = new FileStateStore(await mkdtemp(join(tmpdir(), 'jf-state-')));
    expect(await store.readJournal()).toBeNull();
    const journal = {
      id: 'x',
      kind: 'sync' as const,
      pid: 1,
      startedAt: new Date().toISOString(),
      force: false,
      step: 'swap',
      undo: [{ kind: 'start-container' as const, site: 'slave' as const }],
      committed: false,
    };
    await store.writeJournal(journal);
    expect(await store.readJournal()).toEqual(journal);
    await store.clearJournal();
    expect(await store.readJournal()).toBeNull();
  });
});
