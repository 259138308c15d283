/** Test support for Home Assistant's MQTT value templates (test/adapters/mqtt/discovery.test.ts). */

/*
 * A tiny evaluator for the Jinja subset the value templates use: one `{{ expression }}` with attribute access,
 * literals, dict literals, `a if c else b`, and/or/not, comparisons, filters `length` and `tojson`, tests
 * `none`, `number`, `defined`. It renders like HA (Python `str()`: None -> "None", True -> "True"), is lazy
 * like Jinja, and is stricter than HA on one point: touching an undefined value throws (HA would log a
 * "Template variable warning/error"), so a template that reads a missing field fails the test.
 * JSON numbers: Python renders a JSON 12.0 as "12.0", JavaScript as "12"; HA parses both to 12.
 */
const UNDEFINED = Symbol('undefined');
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
type Value = JsonValue | typeof UNDEFINED;

type Token = { kind: 'str' | 'num' | 'name' | 'op'; text: string };

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  const re =
    /\s*(?:('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(==|!=|>=|<=|[><|.(){}:,]))/y;
  let pos = 0;
  while (pos < src.length) {
    if (/^\s*$/.test(src.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(src);
    if (!m) throw new Error(`unsupported template syntax at "${src.slice(pos)}"`);
    pos = re.lastIndex;
    if (m[1] !== undefined) tokens.push({ kind: 'str', text: m[1].slice(1, -1).replace(/\\(.)/g, '$1') });
    else if (m[2] !== undefined) tokens.push({ kind: 'num', text: m[2] });
    else if (m[3] !== undefined) tokens.push({ kind: 'name', text: m[3] });
    else if (m[4] !== undefined) tokens.push({ kind: 'op', text: m[4] });
  }
  return tokens;
}

function truthy(v: Value): boolean {
  if (v === UNDEFINED) throw new Error('template tests an undefined value');
  if (v === null) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return Boolean(v);
}

function pyStr(v: Value): string {
  if (v === UNDEFINED) throw new Error('template renders an undefined value');
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number' || typeof v === 'string') return String(v);
  throw new Error('template renders a list or dict without tojson');
}

export function renderTemplate(template: string, valueJson: JsonValue): string {
  const m = /^\{\{(.*)\}\}$/s.exec(template);
  if (!m?.[1]) throw new Error(`not a single {{ expression }}: ${template}`);
  const tokens = tokenize(m[1]);
  let i = 0;
  const peek = (text?: string) => {
    const t = tokens[i];
    return t !== undefined && (text === undefined || t.text === text) ? t : undefined;
  };
  const next = () => {
    const t = tokens[i++];
    if (!t) throw new Error('unexpected end of template');
    return t;
  };
  const expect = (text: string) => {
    const t = next();
    if (t.text !== text) throw new Error(`expected ${text}, got ${t.text}`);
  };

  // Each parse function returns a thunk so that `if`/`and`/`or` evaluate lazily, as Jinja does.
  type Thunk = () => Value;
  function parseExpr(): Thunk {
    const then = parseOr();
    if (!peek('if')) return then;
    next();
    const cond = parseOr();
    expect('else');
    const otherwise = parseExpr();
    return () => (truthy(cond()) ? then() : otherwise());
  }
  function parseOr(): Thunk {
    let left = parseAnd();
    while (peek('or')) {
      next();
      const l = left;
      const r = parseAnd();
      left = () => {
        const lv = l();
        return truthy(lv) ? lv : r();
      };
    }
    return left;
  }
  function parseAnd(): Thunk {
    let left = parseNot();
    while (peek('and')) {
      next();
      const l = left;
      const r = parseNot();
      left = () => {
        const lv = l();
        return truthy(lv) ? r() : lv;
      };
    }
    return left;
  }
  function parseNot(): Thunk {
    if (peek('not')) {
      next();
      const inner = parseNot();
      return () => !truthy(inner());
    }
    return parseCompare();
  }
  function parseCompare(): Thunk {
    let left = parseFiltered();
    for (;;) {
      const op = peek()?.text;
      if (op !== '==' && op !== '!=' && op !== '>' && op !== '<' && op !== '>=' && op !== '<=') return left;
      next();
      const l = left;
      const r = parseFiltered();
      left = () => {
        const a = l();
        const b = r();
        if (a === UNDEFINED || b === UNDEFINED) throw new Error('template compares an undefined value');
        if (op === '==') return JSON.stringify(a) === JSON.stringify(b);
        if (op === '!=') return JSON.stringify(a) !== JSON.stringify(b);
        if (typeof a !== 'number' || typeof b !== 'number') throw new Error(`${op} needs numbers`);
        return op === '>' ? a > b : op === '<' ? a < b : op === '>=' ? a >= b : a <= b;
      };
    }
  }
  function parseFiltered(): Thunk {
    let value = parsePrimary();
    for (;;) {
      if (peek('|')) {
        next();
        const name = next().text;
        const inner = value;
        value = () => applyFilter(name, inner());
      } else if (peek('is')) {
        next();
        const negate = peek('not') !== undefined;
        if (negate) next();
        const name = next().text;
        const inner = value;
        value = () => applyTest(name, inner()) !== negate;
      } else {
        return value;
      }
    }
  }
  function parsePrimary(): Thunk {
    const t = next();
    if (t.kind === 'str') return () => t.text;
    if (t.kind === 'num') return () => Number(t.text);
    if (t.text === '(') {
      const inner = parseExpr();
      expect(')');
      return inner;
    }
    if (t.text === '{') {
      const entries: Array<[string, Thunk]> = [];
      while (!peek('}')) {
        const key = next();
        if (key.kind !== 'str') throw new Error('dict keys must be string literals');
        expect(':');
        entries.push([key.text, parseExpr()]);
        if (peek(',')) next();
      }
      expect('}');
      return () => {
        const out: Record<string, JsonValue> = {};
        for (const [k, thunk] of entries) {
          const v = thunk();
          if (v === UNDEFINED) throw new Error(`dict value ${k} is undefined`);
          out[k] = v;
        }
        return out;
      };
    }
    if (t.kind !== 'name') throw new Error(`unexpected ${t.text}`);
    const literals: Record<string, JsonValue> = {
      none: null,
      None: null,
      true: true,
      True: true,
      false: false,
      False: false,
    };
    if (t.text in literals) {
      const lit = literals[t.text] ?? null;
      return () => lit;
    }
    if (t.text !== 'value_json') throw new Error(`unknown variable ${t.text}`);
    const path: string[] = [];
    while (peek('.')) {
      next();
      path.push(next().text);
    }
    return () => {
      let v: Value = valueJson;
      for (const name of path) {
        if (v === UNDEFINED) throw new Error(`attribute ${name} of an undefined value (${path.join('.')})`);
        v =
          v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, name)
            ? (v[name] ?? null)
            : UNDEFINED;
      }
      return v;
    };
  }
  function applyFilter(name: string, v: Value): Value {
    if (v === UNDEFINED) throw new Error(`filter ${name} on an undefined value`);
    if (name === 'length') {
      if (typeof v === 'string' || Array.isArray(v)) return v.length;
      if (v !== null && typeof v === 'object') return Object.keys(v).length;
      throw new Error('length of a value without length');
    }
    // Jinja's tojson: json.dumps, then <, >, &, ' escaped as \u00XX (still valid JSON).
    if (name === 'tojson')
      return JSON.stringify(v).replace(/[<>&']/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
    throw new Error(`unsupported filter ${name}`);
  }
  function applyTest(name: string, v: Value): boolean {
    if (name === 'defined') return v !== UNDEFINED;
    if (v === UNDEFINED) throw new Error(`test ${name} on an undefined value`);
    if (name === 'none') return v === null;
    // Python's numbers.Number includes bool.
    if (name === 'number') return typeof v === 'number' || typeof v === 'boolean';
    throw new Error(`unsupported test ${name}`);
  }

  const expr = parseExpr();
  if (i !== tokens.length)
    throw new Error(
      `unparsed template tail: ${tokens
        .slice(i)
        .map((t) => t.text)
        .join(' ')}`,
    );
  return pyStr(expr());
}
