/**
 * Data expectations: what a dataset must satisfy before anything trains on it. {@link checkExpectations} reports
 * every violation at once, each with its count and a few example rows, so one failed run says everything wrong.
 */
import { parseTimestamp } from './features';
import { cellValue, findColumn, type Column, type NumericColumn, type Table } from './table';

/** A bound: a number, or a timestamp as text (`'2001-01-01'`) for a timestamp column. */
export type Bound = number | string;

export interface Expectations {
  /** At least this many rows. */
  minRows?: number;
  /** At most this many rows. */
  maxRows?: number;
  /** Columns with no missing value. */
  notNull?: string[];
  /** Inclusive bounds per column; missing values are not checked here (see notNull, maxNullShare). */
  range?: Record<string, { min?: Bound; max?: Bound }>;
  /** The only values a column may hold (categories, or numbers); missing values are not checked here. */
  allowed?: Record<string, (string | number)[]>;
  /** Largest share (0..1) of missing values per column. */
  maxNullShare?: Record<string, number>;
}

export type ExpectationKind = keyof Expectations | 'column';

/** One broken expectation. */
export interface Violation {
  expectation: ExpectationKind;
  /** The column, for per-column expectations. */
  column?: string;
  /** Rows (or, for row counts, the count) that break it. */
  count: number;
  /** Up to `maxExamples` row indexes of the table (0-based), ascending. */
  rows: number[];
  /** The values at {@link rows}. */
  values: (number | string | null)[];
  /** One line, e.g. `distance: 12 values outside [0, 6000] (rows 17, 230, ...: -5, 7000, ...)`. */
  message: string;
}

export interface CheckOptions {
  /** Columns holding epoch ms: their bounds may be text and their values print as ISO timestamps. */
  timestampColumns?: Iterable<string>;
  /** Example rows per violation. @default 5 */
  maxExamples?: number;
}

/** Thrown for an expectation that cannot be checked at all (a bound that is neither a number nor a timestamp). */
export class ExpectationError extends Error {
  override readonly name = 'ExpectationError';
}

/** A bound as a number; text must be a timestamp. */
export function boundValue(bound: Bound, what: string): number {
  if (typeof bound === 'number') return bound;
  const t = parseTimestamp(bound);
  if (t !== t) throw new ExpectationError(`${what}: '${bound}' is neither a number nor a timestamp`);
  return t;
}

/**
 * Checks a table against expectations.
 *
 * @returns every violation, in the order minRows, maxRows, then per kind and column as written; empty when all hold.
 * @throws ExpectationError for a bound that is neither a number nor a timestamp.
 * @example
 * const violations = checkExpectations(table, { minRows: 1000, range: { distance: { min: 0, max: 6000 } } });
 * if (violations.length) throw new Error(formatViolations(violations));
 */
export function checkExpectations(table: Table, expectations: Expectations, opts: CheckOptions = {}): Violation[] {
  const maxExamples = opts.maxExamples ?? 5;
  const timestamps = new Set(opts.timestampColumns ?? []);
  const show = (column: Column, row: number) => {
    const v = cellValue(column, row);
    return typeof v === 'number' && timestamps.has(column.name) ? new Date(v).toISOString() : v;
  };
  const out: Violation[] = [];
  const n = table.numRows;
  if (expectations.minRows !== undefined && n < expectations.minRows) {
    out.push(rowCount('minRows', n, `${n} rows, expected at least ${expectations.minRows}`));
  }
  if (expectations.maxRows !== undefined && n > expectations.maxRows) {
    out.push(rowCount('maxRows', n, `${n} rows, expected at most ${expectations.maxRows}`));
  }

  /** Scans a column for rows matching `bad`, keeping the count and the first examples. */
  const scan = (
    kind: ExpectationKind,
    name: string,
    bad: (column: Column, row: number) => boolean,
    describe: (count: number, column: Column) => string,
  ) => {
    const column = findColumn(table, name);
    if (!column) {
      const have = table.columns.map((c) => c.name).join(', ');
      const message = `${name}: no such column (have: ${have}), named in ${kind}`;
      out.push({ expectation: 'column', column: name, count: 0, rows: [], values: [], message });
      return;
    }
    const rows: number[] = [];
    let count = 0;
    for (let r = 0; r < n; r++) {
      if (!bad(column, r)) continue;
      if (count < maxExamples) rows.push(r);
      count++;
    }
    if (count === 0) return;
    const values = rows.map((r) => show(column, r));
    out.push({
      expectation: kind,
      column: name,
      count,
      rows,
      values,
      message: `${name}: ${describe(count, column)} ${examples(rows, values, count, kind !== 'notNull' && kind !== 'maxNullShare', column.kind === 'categorical')}`,
    });
  };
  const missing = (column: Column, r: number) =>
    column.kind === 'numeric' ? column.values[r] !== column.values[r] : column.codes[r] < 0;

  for (const name of expectations.notNull ?? []) {
    scan('notNull', name, missing, (count) => `${count} missing ${count === 1 ? 'value' : 'values'}`);
  }
  for (const [name, { min, max }] of Object.entries(expectations.range ?? {})) {
    const lo = min === undefined ? -Infinity : boundValue(min, `range.${name}.min`);
    const hi = max === undefined ? Infinity : boundValue(max, `range.${name}.max`);
    const fmt = (v: number) => (timestamps.has(name) ? new Date(v).toISOString() : String(v));
    const where =
      min !== undefined && max !== undefined
        ? `outside [${fmt(lo)}, ${fmt(hi)}]`
        : min !== undefined
          ? `below ${fmt(lo)}`
          : `above ${fmt(hi)}`;
    if (findColumn(table, name)?.kind === 'categorical') {
      const message = `${name}: is categorical, range needs a numeric column`;
      out.push({ expectation: 'range', column: name, count: 0, rows: [], values: [], message });
      continue;
    }
    scan(
      'range',
      name,
      (column, r) => {
        const v = (column as NumericColumn).values[r];
        return v < lo || v > hi;
      },
      (count) => `${count} ${count === 1 ? 'value' : 'values'} ${where}`,
    );
  }
  for (const [name, values] of Object.entries(expectations.allowed ?? {})) {
    const strings = new Set(values.map(String));
    const numbers = new Set(values.map(Number));
    let allowedCodes: Uint8Array | undefined;
    scan(
      'allowed',
      name,
      (column, r) => {
        if (column.kind === 'numeric') {
          const v = column.values[r];
          return v === v && !numbers.has(v);
        }
        allowedCodes ??= Uint8Array.from(column.dictionary, (s) => (strings.has(s) ? 1 : 0));
        const c = column.codes[r];
        return c >= 0 && allowedCodes[c] === 0;
      },
      (count) => `${count} ${count === 1 ? 'value' : 'values'} not in the allowed list (${values.length} values)`,
    );
  }
  for (const [name, share] of Object.entries(expectations.maxNullShare ?? {})) {
    const column = findColumn(table, name);
    let nulls = 0;
    if (column) for (let r = 0; r < n; r++) if (missing(column, r)) nulls++;
    if (column && (n === 0 || nulls / n <= share)) continue;
    scan(
      'maxNullShare',
      name,
      missing,
      (count) => `${percent(count / n)} missing (${count} of ${n} rows), at most ${percent(share)} allowed`,
    );
  }
  return out;
}

function rowCount(expectation: 'minRows' | 'maxRows', n: number, message: string): Violation {
  return { expectation, count: n, rows: [], values: [], message: `rows: ${message}` };
}

const percent = (x: number) => `${Number((x * 100).toPrecision(3))}%`;

function examples(
  rows: number[],
  values: (number | string | null)[],
  count: number,
  withValues: boolean,
  quote: boolean,
): string {
  const more = count > rows.length ? ', ...' : '';
  const list = `row${rows.length === 1 && !more ? '' : 's'} ${rows.join(', ')}${more}`;
  if (!withValues) return `(${list})`;
  const shown = values.map((v) => (quote && typeof v === 'string' ? `'${v}'` : String(v))).join(', ');
  return `(${list}: ${shown}${more})`;
}

/**
 * All violations as one message, one per line.
 *
 * @example
 * formatViolations(violations);
 * // 2 expectations failed:
 * // - distance: 12 values outside [0, 6000] (rows 17, 230, 231, 400, 512, ...: -5, 7000, 6100, -1, 9000, ...)
 * // - origin: 3 missing values (rows 4, 9, 17)
 */
export function formatViolations(violations: readonly Violation[]): string {
  const head = `${violations.length} expectation${violations.length === 1 ? '' : 's'} failed:`;
  return [head, ...violations.map((v) => `- ${v.message}`)].join('\n');
}
