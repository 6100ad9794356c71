/**
 * Turns chunks of raw values (whatever a reader decoded) into a typed {@link Table}: coerces each value to its
 * column's type, drops rows outside the filters, and counts or rejects bad rows. Every reader feeds one of these,
 * so all formats coerce, filter and report alike.
 */
import { MISSING_CODE, type Column, type Table } from '../../ml/table';
import { parseTimestamp } from '../../ml/features';
import { BAD, NUMERIC_COERCERS, describeBad, toCategoryValue, type ColumnType } from './coerce';

export interface ColumnSpec {
  name: string;
  type: ColumnType;
}

/**
 * Keeps rows whose `column` lies in [from, to) and, with `in`, is one of the values listed. Filters on the same
 * column are alternatives (any may match); filters on different columns must all match.
 */
export interface RowFilter {
  column: string;
  from?: number | string;
  to?: number | string;
  in?: (string | number)[];
}

/** The step's inputs do not fit the data (an unknown column, a filter bound of the wrong type). */
export class IngestInputError extends Error {
  override readonly name = 'IngestInputError';
}

/** A row that cannot be read or coerced, with `onBadRows: fail`. */
export class BadRowError extends Error {
  override readonly name = 'BadRowError';
  constructor(
    /** `line 17` (CSV, NDJSON), `element 17` (JSON array), `row 17` (Parquet, Arrow; 0-based). */
    readonly where: string,
    readonly reason: string,
  ) {
    super(`${where}: ${reason}`);
  }
}

/** Raw values of some rows: one array per column (a column absent from the chunk is missing everywhere). */
export interface RawChunk {
  length: number;
  columns: Readonly<Record<string, ArrayLike<unknown> | undefined>>;
  /** Names a row of the chunk in the source, for messages. */
  where(i: number): string;
}

export interface CollectOptions {
  columns: readonly ColumnSpec[];
  filters?: readonly RowFilter[];
  onBadRows: 'fail' | 'skip';
}

/** Module-level copies: hot loops then read a local binding, not an export getter. */
const BAD_VALUE: typeof BAD = BAD;
const MISSING: number = MISSING_CODE;
const toCategory = toCategoryValue;

/** Bad rows listed by {@link TableCollector.badRowExamples}. */
const BAD_EXAMPLES = 5;

class GrowableFloat64 {
  data = new Float64Array(1 << 12);
  length = 0;
  reserve(extra: number): void {
    if (this.length + extra <= this.data.length) return;
    const next = new Float64Array(Math.max(this.data.length * 2, this.length + extra));
    next.set(this.data.subarray(0, this.length));
    this.data = next;
  }
}

class GrowableInt32 {
  data = new Int32Array(1 << 12);
  length = 0;
  reserve(extra: number): void {
    if (this.length + extra <= this.data.length) return;
    const next = new Int32Array(Math.max(this.data.length * 2, this.length + extra));
    next.set(this.data.subarray(0, this.length));
    this.data = next;
  }
}

interface NumericState {
  spec: ColumnSpec;
  kind: 'numeric';
  out: GrowableFloat64;
}

interface CategoryState {
  spec: ColumnSpec;
  kind: 'categorical';
  out: GrowableInt32;
  /** Categories in order of first appearance; codes index this until {@link TableCollector.finish} sorts. */
  seen: string[];
  index: Map<string, number>;
}

type ColumnState = NumericState | CategoryState;

/** One filter, its bounds resolved for the column's type. */
interface CompiledFilter {
  lo: number;
  hi: number;
  numbers?: Set<number>;
  strings?: Set<string>;
}

export class TableCollector {
  private readonly states: ColumnState[];
  private readonly byName: Map<string, ColumnState>;
  private readonly filters: { state: ColumnState; alternatives: CompiledFilter[] }[];
  private readonly onBadRows: 'fail' | 'skip';
  /** Rows seen in the source (pruned row groups excluded), good or bad, kept or filtered out. */
  rowsRead = 0;
  /** Rows skipped as bad (with `onBadRows: skip`). */
  badRows = 0;
  /** The first bad rows, e.g. `line 17: delay: 'abc' is not a number`. */
  readonly badRowExamples: string[] = [];

  constructor(opts: CollectOptions) {
    if (!opts.columns.length) throw new IngestInputError('no columns to read');
    this.onBadRows = opts.onBadRows;
    this.states = opts.columns.map((spec) =>
      spec.type === 'category'
        ? { spec, kind: 'categorical', out: new GrowableInt32(), seen: [], index: new Map() }
        : { spec, kind: 'numeric', out: new GrowableFloat64() },
    );
    this.byName = new Map(this.states.map((s) => [s.spec.name, s]));
    const groups = new Map<string, CompiledFilter[]>();
    for (const f of opts.filters ?? []) {
      const state = this.byName.get(f.column);
      if (!state) {
        throw new IngestInputError(`filter: no column "${f.column}" (have: ${[...this.byName.keys()].join(', ')})`);
      }
      const list = groups.get(f.column) ?? [];
      list.push(compileFilter(f, state.spec));
      groups.set(f.column, list);
    }
    this.filters = [...groups].map(([name, alternatives]) => ({ state: this.byName.get(name)!, alternatives }));
  }

  get columns(): readonly ColumnSpec[] {
    return this.states.map((s) => s.spec);
  }

  /** Rows kept so far. */
  get rows(): number {
    return this.states[0].out.length;
  }

  /**
   * False when no row with values in [min, max] of `column` can pass the filters, so a reader may skip a row group
   * by its statistics. True when unsure.
   */
  mayMatch(column: string, min: number, max: number): boolean {
    const group = this.filters.find((g) => g.state.spec.name === column);
    if (!group || group.state.kind !== 'numeric' || !(min <= max)) return true;
    return group.alternatives.some((f) => f.lo <= max && min < f.hi);
  }

  /** Records a row that could not even be parsed (a malformed CSV line, invalid JSON). */
  badRow(where: string, reason: string): void {
    this.rowsRead++;
    this.recordBad(where, reason);
  }

  private recordBad(where: string, reason: string): void {
    if (this.onBadRows === 'fail') throw new BadRowError(where, reason);
    this.badRows++;
    if (this.badRowExamples.length < BAD_EXAMPLES) this.badRowExamples.push(`${where}: ${reason}`);
  }

  /** Coerces, filters and appends the rows of a chunk. */
  push(chunk: RawChunk): void {
    const n = chunk.length;
    if (!n) return;
    this.rowsRead += n;
    const keep = new Uint8Array(n).fill(1);
    const coerced = new Map<ColumnState, Float64Array | Int32Array>();
    for (const state of this.states) {
      const raw = chunk.columns[state.spec.name];
      coerced.set(
        state,
        state.kind === 'numeric'
          ? this.coerceNumeric(state, raw, n, keep, chunk)
          : this.coerceCategory(state, raw, n, keep, chunk),
      );
    }
    for (const { state, alternatives } of this.filters) {
      const values = coerced.get(state)!;
      const pass = state.kind === 'numeric' ? numericPass(alternatives) : categoryPass(alternatives, state.seen);
      for (let i = 0; i < n; i++) if (keep[i] && !pass(values[i])) keep[i] = 0;
    }
    let kept = 0;
    for (let i = 0; i < n; i++) kept += keep[i];
    for (const state of this.states) {
      const values = coerced.get(state)!;
      const out = state.out;
      out.reserve(kept);
      if (kept === n) {
        out.data.set(values, out.length);
        out.length += n;
      } else {
        for (let i = 0; i < n; i++) if (keep[i]) out.data[out.length++] = values[i];
      }
    }
  }

  private bad(chunk: RawChunk, i: number, keep: Uint8Array, state: ColumnState, value: unknown): void {
    if (!keep[i]) return; // one count per row, however many of its values are bad
    keep[i] = 0;
    this.recordBad(chunk.where(i), `${state.spec.name}: ${describeBad(value, state.spec.type)}`);
  }

  private coerceNumeric(
    state: NumericState,
    raw: ArrayLike<unknown> | undefined,
    n: number,
    keep: Uint8Array,
    chunk: RawChunk,
  ): Float64Array {
    if (!raw) return new Float64Array(n).fill(NaN);
    if (state.spec.type === 'number' && raw instanceof Float64Array) return raw;
    const out = new Float64Array(n);
    if (
      state.spec.type === 'number' &&
      ArrayBuffer.isView(raw) &&
      !(raw instanceof BigInt64Array || raw instanceof BigUint64Array)
    ) {
      out.set(raw as unknown as ArrayLike<number>);
      return out;
    }
    const coerce = NUMERIC_COERCERS[state.spec.type as Exclude<ColumnType, 'category'>];
    for (let i = 0; i < n; i++) {
      const v = coerce(raw[i]);
      if (v === BAD_VALUE) {
        this.bad(chunk, i, keep, state, raw[i]);
        out[i] = NaN;
      } else {
        out[i] = v;
      }
    }
    return out;
  }

  private coerceCategory(
    state: CategoryState,
    raw: ArrayLike<unknown> | undefined,
    n: number,
    keep: Uint8Array,
    chunk: RawChunk,
  ): Int32Array {
    const out = new Int32Array(n).fill(MISSING);
    if (!raw) return out;
    // Dictionary-encoded sources repeat the same string object: remember the last lookup.
    let last: unknown = undefined;
    let lastCode = MISSING;
    for (let i = 0; i < n; i++) {
      const v = raw[i];
      if (v === last && i > 0) {
        out[i] = lastCode;
        continue;
      }
      const s = toCategory(v);
      let code = MISSING;
      if (s === BAD_VALUE) {
        this.bad(chunk, i, keep, state, v);
      } else if (s !== undefined) {
        const known = state.index.get(s);
        if (known === undefined) {
          code = state.seen.length;
          state.seen.push(s);
          state.index.set(s, code);
        } else {
          code = known;
        }
      }
      out[i] = code;
      last = s === BAD_VALUE ? undefined : v;
      lastCode = code;
    }
    return out;
  }

  /**
   * The table of every kept row, in source order. Categorical dictionaries hold only the categories of kept rows,
   * sorted, so the same rows give the same table whatever was read around them.
   */
  finish(): { table: Table; types: Record<string, ColumnType> } {
    const numRows = this.rows;
    const columns = this.states.map((state): Column => {
      const name = state.spec.name;
      if (state.kind === 'numeric') return { kind: 'numeric', name, values: state.out.data.slice(0, numRows) };
      const codes = state.out.data.slice(0, numRows);
      const used = new Uint8Array(state.seen.length);
      for (let i = 0; i < numRows; i++) if (codes[i] >= 0) used[codes[i]] = 1;
      const dictionary = state.seen.filter((_, c) => used[c]).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const sortedIndex = new Map(dictionary.map((s, i) => [s, i]));
      const remap = Int32Array.from(state.seen, (s, c) => (used[c] ? sortedIndex.get(s)! : MISSING));
      for (let i = 0; i < numRows; i++) if (codes[i] >= 0) codes[i] = remap[codes[i]];
      return { kind: 'categorical', name, codes, dictionary };
    });
    const types = Object.fromEntries(this.states.map((s) => [s.spec.name, s.spec.type]));
    return { table: { numRows, columns }, types };
  }
}

function compileFilter(f: RowFilter, spec: ColumnSpec): CompiledFilter {
  const where = `filter on "${f.column}"`;
  if (f.from === undefined && f.to === undefined && f.in === undefined) {
    throw new IngestInputError(`${where}: give from, to or in`);
  }
  if (spec.type === 'category') {
    if (f.from !== undefined || f.to !== undefined) {
      throw new IngestInputError(`${where}: "${f.column}" is a category: filter it with in, not from/to`);
    }
    return { lo: -Infinity, hi: Infinity, strings: new Set(f.in!.map(String)) };
  }
  const bound = (v: number | string | undefined, name: string, fallback: number): number => {
    if (v === undefined) return fallback;
    if (typeof v === 'number') return v;
    const x = spec.type === 'timestamp' ? parseTimestamp(v) : Number(v);
    if (x !== x || v.trim() === '') {
      const want = spec.type === 'timestamp' ? 'a timestamp' : 'a number';
      throw new IngestInputError(`${where}: ${name} '${v}' is not ${want}`);
    }
    return x;
  };
  const compiled: CompiledFilter = { lo: bound(f.from, 'from', -Infinity), hi: bound(f.to, 'to', Infinity) };
  if (f.in) {
    compiled.numbers = new Set(f.in.map((v) => bound(v, 'in', NaN)).filter((v) => v === v));
  }
  return compiled;
}

function numericPass(alternatives: CompiledFilter[]): (v: number) => boolean {
  if (alternatives.length === 1 && !alternatives[0].numbers) {
    const { lo, hi } = alternatives[0];
    return (v) => lo <= v && v < hi;
  }
  return (v) => alternatives.some((f) => f.lo <= v && v < f.hi && (!f.numbers || f.numbers.has(v)));
}

function categoryPass(alternatives: CompiledFilter[], seen: readonly string[]): (code: number) => boolean {
  return (code) => code >= 0 && alternatives.some((f) => f.strings!.has(seen[code]));
}
