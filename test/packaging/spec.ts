/** SPEC section 2, parsed from the copy in test/fixtures/spec-variables.md, for the packaging tests. */
import { readFileSync } from 'node:fs';

export interface SpecVariable {
  name: string;
  /** The literal default (backticked in the table), '' for "empty", null when there is none or it is prose. */
  default: string | null;
  /** The default column as written. */
  defaultText: string;
  meaning: string;
}

const FIXTURE = 'test/fixtures/spec-variables.md';

export function specVariables(): SpecVariable[] {
  const text = readFileSync(FIXTURE, 'utf8');
  const out: SpecVariable[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    const [names, defaults, meaning] = cells;
    if (names === undefined || defaults === undefined || meaning === undefined) continue;
    const variables = [...names.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1] ?? '');
    // `A` / `B` with `60` / `300`: one default each; otherwise the one default applies to every name of the row.
    const perName = names.includes(' / ') ? defaults.split(' / ') : variables.map(() => defaults);
    variables.forEach((name, i) => {
      const cell = (perName[i] ?? defaults).trim();
      const literal = /^`([^`]*)`$/.exec(cell);
      out.push({
        name,
        default: literal ? (literal[1] ?? '') : /^empty\b/.test(cell) ? '' : null,
        defaultText: cell,
        meaning,
      });
    });
  }
  if (out.length < 30) throw new Error(`${FIXTURE}: found only ${out.length} variables; is the table there?`);
  return out;
}

/** The text of SLAVE_BANNER's default English warning, as written below the table. */
export function specDefaultBanner(): string {
  const m = /^Default `SLAVE_BANNER`: `([^`]+)`$/m.exec(readFileSync(FIXTURE, 'utf8'));
  if (!m?.[1]) throw new Error(`${FIXTURE}: the default SLAVE_BANNER line is missing`);
  return m[1];
}

/** The variables SPEC marks as secrets (accepted as NAME_FILE, masked). */
export const SPEC_SECRETS = ['MQTT_PASSWORD', 'JELLYFIN_API_KEY'];
