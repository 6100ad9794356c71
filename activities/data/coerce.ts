/**
 * Column types of ingested data and how a raw value (text from CSV, JSON values, Parquet and Arrow values) becomes
 * one. Pure: no I/O, so the step's input schema can use it inside the workflow bundle.
 */
import { parseTimestamp } from '../../ml/features';

/** What a column of an ingested dataset holds. Timestamps are epoch ms (UTC); booleans are 1 / 0. */
export const COLUMN_TYPES = ['number', 'timestamp', 'category', 'boolean'] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

/** Text that means "missing" in number, timestamp and boolean columns (a category keeps it: 'NA' is an airport). */
const NULL_TEXT = new Set(['', 'NA', 'N/A', 'NaN', 'nan', 'null', 'NULL', 'None']);
const TRUE_TEXT = new Set(['true', 'True', 'TRUE', '1', 'yes', 'Yes', 'YES']);
const FALSE_TEXT = new Set(['false', 'False', 'FALSE', '0', 'no', 'No', 'NO']);

/** Returned by the coercers for a value that does not fit the type (a bad row). */
export const BAD = Symbol('bad value');

/** A raw value as a number (NaN when missing), or {@link BAD}. */
export function toNumberValue(v: unknown): number | typeof BAD {
  switch (typeof v) {
    case 'number':
      return v;
    case 'bigint':
      return Number(v);
    case 'boolean':
      return v ? 1 : 0;
    case 'string': {
      const s = v.trim();
      if (NULL_TEXT.has(s)) return NaN;
      const x = Number(s);
      return x === x ? x : BAD;
    }
    case 'undefined':
      return NaN;
    default:
      return v === null ? NaN : BAD;
  }
}

/** A raw value as epoch ms (NaN when missing), or {@link BAD}: numbers are taken as ms, text is parsed as UTC. */
export function toTimestampValue(v: unknown): number | typeof BAD {
  switch (typeof v) {
    case 'number':
      return Math.floor(v);
    case 'bigint':
      return Number(v);
    case 'string': {
      const s = v.trim();
      if (NULL_TEXT.has(s)) return NaN;
      const t = parseTimestamp(s);
      return t === t ? t : BAD;
    }
    case 'undefined':
      return NaN;
    default:
      return v === null ? NaN : v instanceof Date ? v.getTime() : BAD;
  }
}

/** A raw value as 1 / 0 (NaN when missing), or {@link BAD}. */
export function toBooleanValue(v: unknown): number | typeof BAD {
  switch (typeof v) {
    case 'boolean':
      return v ? 1 : 0;
    case 'number':
    case 'bigint':
      return v === 1 || v === 1n ? 1 : v === 0 || v === 0n ? 0 : BAD;
    case 'string': {
      const s = v.trim();
      if (TRUE_TEXT.has(s)) return 1;
      if (FALSE_TEXT.has(s)) return 0;
      return NULL_TEXT.has(s) ? NaN : BAD;
    }
    case 'undefined':
      return NaN;
    default:
      return v === null ? NaN : BAD;
  }
}

/** A raw value as a category (undefined when missing: null, undefined or ''), or {@link BAD}. */
export function toCategoryValue(v: unknown): string | undefined | typeof BAD {
  switch (typeof v) {
    case 'string':
      return v === '' ? undefined : v;
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(v);
    case 'undefined':
      return undefined;
    default:
      if (v === null) return undefined;
      if (v instanceof Date) return v.toISOString();
      return BAD;
  }
}

export const NUMERIC_COERCERS: Record<Exclude<ColumnType, 'category'>, (v: unknown) => number | typeof BAD> = {
  number: toNumberValue,
  timestamp: toTimestampValue,
  boolean: toBooleanValue,
};

/** Why a value is bad, for messages: `'abc' is not a number`. */
export function describeBad(value: unknown, type: ColumnType): string {
  const shown =
    typeof value === 'string' ? `'${value.length > 40 ? `${value.slice(0, 40)}...` : value}'` : String(value);
  const what = type === 'category' ? 'a category' : type === 'timestamp' ? 'a timestamp' : `a ${type}`;
  return `${shown} is not ${what}`;
}

/**
 * The type a column of text or JSON values most likely has: number when every value parses as one, else boolean
 * when every value is one (true/false, yes/no), else timestamp when every value is a date (`2001-01-14`,
 * `2001/01/14 21:55`, ISO), else category. Missing values do not count; a column with none at all is a number.
 * JSON numbers are never taken for timestamps: declare those.
 */
export function inferColumnType(values: ArrayLike<unknown>): ColumnType {
  let number = true;
  let timestamp = true;
  let boolean = true;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) continue;
    if (typeof v === 'boolean') {
      number = timestamp = false;
    } else if (typeof v === 'number' || typeof v === 'bigint') {
      timestamp = false;
      boolean &&= toBooleanValue(v) !== BAD;
    } else if (v instanceof Date) {
      number = boolean = false;
    } else if (typeof v === 'string') {
      if (NULL_TEXT.has(v.trim())) continue;
      number &&= toNumberValue(v) !== BAD;
      timestamp &&= toTimestampValue(v) !== BAD;
      boolean &&= toBooleanValue(v) !== BAD;
    } else {
      return 'category';
    }
    if (!number && !timestamp && !boolean) return 'category';
  }
  return number ? 'number' : boolean ? 'boolean' : timestamp ? 'timestamp' : 'category';
}
