/**
 * The shape issue 12 asks of src/, checked on every run: the domain imports nothing outside itself (no config,
 * adapters, service or CLI: those depend on it, never the other way round), and no source file grows past 400
 * lines (a file that big holds several things; split it along its seams).
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
const DOMAIN = join(SRC, 'domain');

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Every module a file imports or re-exports (static and dynamic), as written. */
function importsOf(text: string): string[] {
  const found = new Set<string>();
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s*['"]([^'"]+)['"]/g))
    found.add(m[1] ?? '');
  for (const m of text.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) found.add(m[1] ?? '');
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.add(m[1] ?? '');
  return [...found];
}

describe('architecture', () => {
  it('src/domain imports only from src/domain and Node built-ins', async () => {
    const offenders: string[] = [];
    const files = await sources(DOMAIN);
    expect(files.length).toBeGreaterThan(20);
    for (const file of files) {
      for (const spec of importsOf(await readFile(file, 'utf8'))) {
        if (spec.startsWith('node:')) continue;
        const target = spec.startsWith('.') ? resolve(dirname(file), spec) : null;
        if (target === null || relative(DOMAIN, target).startsWith('..')) {
          offenders.push(`${relative(SRC, file)} imports ${spec}`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });

  it('the import scan sees what a file imports (so the rule above cannot pass by seeing nothing)', () => {
    const text =
      "import { a } from '../config/load.js';\nexport { b } from './x.js';\nimport 'side';\nconst c = await import('../cli/cli.js');";
    expect(importsOf(text).sort()).toEqual(['../cli/cli.js', '../config/load.js', './x.js', 'side']);
  });

  it('no file in src/ is over 400 lines', async () => {
    const long: string[] = [];
    for (const file of await sources(SRC)) {
      const lines = (await readFile(file, 'utf8')).split('\n').length - 1;
      if (lines > 400) long.push(`${relative(SRC, file)}: ${lines} lines`);
    }
    expect(long).toEqual([]);
  });
});
