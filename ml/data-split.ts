/**
 * Train / validation splits and row samples, deterministic for a given table and seed. Rows keep their order in
 * every part, so a time-ordered table stays time-ordered.
 */
import { parseTimestamp } from './features';
import { createRng, deriveSeed } from './random';
import { getColumn, takeRows, TableError, type Table } from './table';

/** By time: rows before `validFrom` train, rows from `validFrom` (until `validTo`, exclusive) validate. */
export interface TimeSplit {
  by: 'time';
  column: string;
  /** Epoch ms, or a timestamp as text (`'2001-01-25'`, UTC). */
  validFrom: number | string;
  validTo?: number | string;
}

/** At random: `validFraction` of the rows (rounded) validate, the rest train. */
export interface RandomSplit {
  by: 'random';
  validFraction: number;
  /** @default 0 */
  seed?: number;
}

export type SplitSpec = TimeSplit | RandomSplit;

export interface SplitResult {
  train: Table;
  valid: Table;
  /** Rows in neither part: a missing time, or a time at or after `validTo`. */
  dropped: number;
}

const time = (v: number | string, what: string): number => {
  const t = typeof v === 'number' ? v : parseTimestamp(v);
  if (t !== t) throw new TableError(`${what}: '${v}' is not a timestamp`);
  return t;
};

/**
 * Splits a table into train and validation rows.
 *
 * @throws TableError when the time column is missing or categorical, or a bound is not a timestamp.
 * @example
 * const { train, valid } = splitTable(table, { by: 'time', column: 'date', validFrom: '2001-01-25' });
 * const again = splitTable(table, { by: 'random', validFraction: 0.2, seed: 1 }); // same rows every time
 */
export function splitTable(table: Table, spec: SplitSpec): SplitResult {
  if (spec.by === 'random') {
    if (!(spec.validFraction > 0 && spec.validFraction < 1)) {
      throw new TableError(`validFraction must be in (0, 1), got ${spec.validFraction}`);
    }
    const n = table.numRows;
    const chosen = chooseRows(n, Math.round(n * spec.validFraction), deriveSeed(spec.seed ?? 0, 0x5011));
    const isValid = new Uint8Array(n);
    for (const r of chosen) isValid[r] = 1;
    const train = new Int32Array(n - chosen.length);
    for (let r = 0, k = 0; r < n; r++) if (!isValid[r]) train[k++] = r;
    return { train: takeRows(table, train), valid: takeRows(table, chosen), dropped: 0 };
  }
  const column = getColumn(table, spec.column);
  if (column.kind !== 'numeric') throw new TableError(`time split: column "${spec.column}" is categorical`);
  const from = time(spec.validFrom, 'validFrom');
  const to = spec.validTo === undefined ? Infinity : time(spec.validTo, 'validTo');
  const train: number[] = [];
  const valid: number[] = [];
  let dropped = 0;
  for (let r = 0; r < table.numRows; r++) {
    const t = column.values[r];
    if (t < from) train.push(r);
    else if (t < to) valid.push(r);
    else dropped++; // NaN lands here too
  }
  return { train: takeRows(table, train), valid: takeRows(table, valid), dropped };
}

/**
 * A uniform random sample of `rows` rows in their original order (the whole table when it is not larger).
 *
 * @example
 * const quick = sampleRows(table, 200_000, 1);
 */
export function sampleRows(table: Table, rows: number, seed = 0): Table {
  if (table.numRows <= rows) return table;
  return takeRows(table, chooseRows(table.numRows, rows, deriveSeed(seed, 0x5a3e)));
}

/** `k` distinct row indexes of [0, n), ascending: a partial Fisher-Yates shuffle. */
function chooseRows(n: number, k: number, seed: number): Int32Array {
  const rng = createRng(seed);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = 0; i < k; i++) {
    const j = i + rng.nextInt(n - i);
    const tmp = order[i];
    order[i] = order[j];
    order[j] = tmp;
  }
  return order.slice(0, k).sort();
}
