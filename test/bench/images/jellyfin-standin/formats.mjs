// Value formats of Jellyfin's databases and JSON, as test/fixtures/jellyfin-reference/README.md describes them.
//   Guid in jellyfin.db: upper-case "D" text; in 10.8-10.10 library.db: 16-byte BLOB of Guid.ToByteArray();
//   in JSON: lower-case "N". Dates in jellyfin.db: 'yyyy-MM-dd HH:mm:ss.FFFFFFF' (UTC); in library.db the same
//   with a trailing 'Z'; in JSON: System.Text.Json through Jellyfin's JsonDateTimeConverter.
// Inside the stand-in a date is a canonical string 'yyyy-MM-dd HH:mm:ss.fffffff' (always 7 digits, UTC).

import { hrtime } from 'node:process';

const GUID_D = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const GUID_N = /^[0-9a-f]{32}$/i;
const GUID_B = /^[{(][0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[})]$/i;

/** A Guid as ASP.NET's model binder accepts it ("N", "D", "B" or "P" format, any case), as upper-case "D"; else null. */
export function parseGuid(text) {
  if (typeof text !== 'string') return null;
  const t = text.trim();
  let hex;
  if (GUID_N.test(t)) hex = t;
  else if (GUID_D.test(t)) hex = t.replace(/-/g, '');
  else if (GUID_B.test(t)) hex = t.slice(1, -1).replace(/-/g, '');
  else return null;
  return guidD(hex);
}

/** 32 hex digits as upper-case "D" (jellyfin.db's text form). */
export function guidD(hex) {
  const h = hex.replace(/-/g, '').toUpperCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Lower-case "N" (JSON, activity log ItemId, metadata folders). */
export function guidN(guid) {
  return guid.replace(/-/g, '').toLowerCase();
}

/** Lower-case "D" (Guid.ToString(): the item-id user-data key). */
export function guidLowerD(guid) {
  return guidD(guid).toLowerCase();
}

/** Hex of Guid.ToByteArray(): the first three groups byte-swapped (little-endian), the last eight bytes as they are. */
export function guidBlobHex(guid) {
  const h = guid.replace(/-/g, '').toUpperCase();
  const swap = (s) => s.match(/../g).reverse().join('');
  return `${swap(h.slice(0, 8))}${swap(h.slice(8, 12))}${swap(h.slice(12, 16))}${h.slice(16)}`;
}

/** The Guid (upper-case "D") of a Guid.ToByteArray() BLOB given as hex. */
export function guidFromBlobHex(hex) {
  return guidD(guidBlobHex(guidD(hex)));
}

export const EMPTY_GUID = '00000000-0000-0000-0000-000000000000';

let lastNow = '';

/** DateTime.UtcNow in the canonical form, with 100 ns digits as .NET has them (strictly increasing). */
export function nowCanonical() {
  const d = new Date();
  const ticks = String(Number((hrtime.bigint() / 100n) % 10000n)).padStart(4, '0');
  let value = `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 23)}${ticks}`;
  if (value <= lastNow) value = bumpTicks(lastNow);
  lastNow = value;
  return value;
}

function bumpTicks(canonical) {
  const ms = Date.parse(`${canonical.slice(0, 10)}T${canonical.slice(11, 23)}Z`);
  const sub = Number(canonical.slice(23)) + 1;
  if (sub < 10000) return `${canonical.slice(0, 23)}${String(sub).padStart(4, '0')}`;
  const next = new Date(ms + 1).toISOString();
  return `${next.slice(0, 10)} ${next.slice(11, 23)}0000`;
}

/** Canonical date from a DB or JSON text ('2024-03-01 20:00:00.1234567Z', '2024-03-01T20:00:00Z', ...); null if not one. */
export function parseDbDate(text) {
  if (text === null || text === undefined) return null;
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d{1,7}))?(Z|[+-]00:?00)?$/.exec(
    String(text).trim(),
  );
  if (!m) return null;
  return `${m[1]} ${m[2]}.${(m[3] ?? '').padEnd(7, '0')}`;
}

/** 'yyyy-MM-dd HH:mm:ss.FFFFFFF': the fraction without trailing zeros, no dot when it is all zeros. */
function trimmed(canonical) {
  const frac = canonical.slice(20).replace(/0+$/, '');
  return frac ? `${canonical.slice(0, 19)}.${frac}` : canonical.slice(0, 19);
}

/** jellyfin.db (EF Core, Microsoft.Data.Sqlite): 'yyyy-MM-dd HH:mm:ss.FFFFFFF'. */
export function efDate(canonical) {
  return canonical === null ? null : trimmed(canonical);
}

/** 10.8-10.10 library.db (SqliteExtensions.ToDateTimeParamValue): 'yyyy-MM-dd HH:mm:ss.FFFFFFFZ'. */
export function libraryDate(canonical) {
  return canonical === null ? null : `${trimmed(canonical)}Z`;
}

/**
 * JSON, as Jellyfin's JsonDateTimeConverter writes a UTC DateTime: with Millisecond == 0 the fixed
 * 'yyyy-MM-ddTHH:mm:ss.fffffffZ', else Utf8JsonWriter's round-trip form (fraction without trailing zeros).
 */
export function jsonDate(canonical) {
  if (canonical === null) return undefined;
  const date = canonical.slice(0, 10);
  const time = canonical.slice(11, 19);
  const frac = canonical.slice(20);
  if (frac.slice(0, 3) === '000') return `${date}T${time}.${frac}Z`;
  return `${date}T${time}.${frac.replace(/0+$/, '')}Z`;
}

/**
 * A date as ASP.NET binds a query value (LegacyDateTimeModelBinder: 'yyyyMMddHHmmss', else an ISO 8601 date);
 * a value without an offset is taken as UTC (the container's time zone). Canonical form, or null if malformed.
 */
export function parseRequestDate(text) {
  const t = String(text).trim();
  const legacy = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(t);
  if (legacy) {
    const [, y, mo, d, h, mi, s] = legacy;
    return validDate(`${y}-${mo}-${d} ${h}:${mi}:${s}.0000000`);
  }
  const iso =
    /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,7}))?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(t);
  if (!iso) return null;
  const time = (iso[2] ?? '00:00:00').length === 5 ? `${iso[2]}:00` : (iso[2] ?? '00:00:00');
  const frac = (iso[3] ?? '').padEnd(7, '0');
  const offset = iso[4];
  if (!offset || offset === 'Z') return validDate(`${iso[1]} ${time}.${frac}`);
  const ms = Date.parse(`${iso[1]}T${time}.${frac.slice(0, 3)}${offset}`);
  if (Number.isNaN(ms)) return null;
  const utc = new Date(ms).toISOString();
  return `${utc.slice(0, 10)} ${utc.slice(11, 19)}.${utc.slice(20, 23)}${frac.slice(3)}`;
}

function validDate(canonical) {
  const ms = Date.parse(`${canonical.slice(0, 10)}T${canonical.slice(11, 23)}Z`);
  if (Number.isNaN(ms)) return null;
  return new Date(ms).toISOString().slice(0, 19) === `${canonical.slice(0, 10)}T${canonical.slice(11, 19)}`
    ? canonical
    : null;
}

/** Milliseconds since the epoch of a canonical date. */
export function dateMs(canonical) {
  return Date.parse(`${canonical.slice(0, 10)}T${canonical.slice(11, 23)}Z`);
}

/** A SQL literal: text quoted, numbers as they are, booleans 0/1, null/undefined NULL. */
export function sql(value) {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
    return String(value);
  }
  if (typeof value === 'bigint') return value.toString();
  return `'${String(value).replace(/'/g, "''")}'`;
}
