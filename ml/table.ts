/**
 * A columnar table: the one data shape every trainer, predictor and metric in ml/ reads.
 *
 * Numeric columns are Float64Array with NaN for missing. Categorical columns are Int32Array codes
 * into a string dictionary with -1 for missing. `null`, `undefined` and the empty string all
 * count as a missing category, because an ONNX string tensor cannot carry a null: treating ""
 * as missing here keeps training and the exported graph in agreement.
 */

export interface NumericColumn {
  readonly kind: 'numeric';
  readonly name: string;
  /** One value per row, NaN where missing. */
  readonly values: Float64Array;
}

export interface CategoricalColumn {
  readonly kind: 'categorical';
  readonly name: string;
  /** One code per row indexing `dictionary`, -1 where missing. */
  readonly codes: Int32Array;
  readonly dictionary: readonly string[];
}

export type Column = NumericColumn | CategoricalColumn;
export type ColumnKind = Column['kind'];

export interface Table {
  readonly numRows: number;
  readonly columns: readonly Column[];
}

/** Code of a missing category. */
export const MISSING_CODE = -1;

/** Thrown when a table is malformed or lacks a column a caller asked for. */
export class TableError extends Error {
  override readonly name = 'TableError';
}

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function toNumber(value: unknown): number {
  if (value === null || value === undefined || value === '') return NaN;
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Date) return value.getTime();
  return Number(value);
}

function toCategory(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  const s = typeof value === 'string' ? value : String(value);
  return s === '' ? undefined : s;
}

/**
 * Builds a numeric column; `null`, `undefined`, `''` and non-numeric strings become NaN.
 *
 * @example
 * const distance = numericColumn('distance', [1750, 2399, null]);
 */
export function numericColumn(name: string, values: ArrayLike<unknown>): NumericColumn {
  if (values instanceof Float64Array) return { kind: 'numeric', name, values };
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toNumber(values[i]);
  return { kind: 'numeric', name, values: out };
}

/**
 * Builds a categorical column with a sorted dictionary (so the codes do not depend on row order).
 *
 * @example
 * const origin = categoricalColumn('origin', ['DTW', 'HNL', null]); // codes [0, 1, -1]
 */
export function categoricalColumn(name: string, values: ArrayLike<unknown>): CategoricalColumn {
  const strings: (string | undefined)[] = new Array(values.length);
  const seen = new Set<string>();
  for (let i = 0; i < values.length; i++) {
    const s = toCategory(values[i]);
    strings[i] = s;
    if (s !== undefined) seen.add(s);
  }
  const dictionary = [...seen].sort(compareStrings);
  const index = new Map(dictionary.map((s, i) => [s, i]));
  const codes = new Int32Array(values.length);
  for (let i = 0; i < strings.length; i++) {
    const s = strings[i];
    codes[i] = s === undefined ? MISSING_CODE : index.get(s)!;
  }
  return { kind: 'categorical', name, codes, dictionary };
}

/** Wraps existing codes and dictionary, checking that every code is in range. */
export function categoricalFromCodes(
  name: string,
  codes: Int32Array,
  dictionary: readonly string[],
): CategoricalColumn {
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c < MISSING_CODE || c >= dictionary.length) {
      throw new TableError(`column "${name}" row ${i}: code ${c} outside dictionary of ${dictionary.length}`);
    }
  }
  return { kind: 'categorical', name, codes, dictionary };
}

/** Number of rows of a column. */
export function columnLength(column: Column): number {
  return column.kind === 'numeric' ? column.values.length : column.codes.length;
}

/**
 * Assembles a table from columns of equal length and unique names.
 *
 * @example
 * const table = tableFromColumns([numericColumn('x', [1, 2]), categoricalColumn('c', ['a', 'b'])]);
 */
export function tableFromColumns(columns: readonly Column[]): Table {
  const names = new Set<string>();
  const numRows = columns.length ? columnLength(columns[0]) : 0;
  for (const column of columns) {
    if (names.has(column.name)) throw new TableError(`duplicate column "${column.name}"`);
    names.add(column.name);
    if (columnLength(column) !== numRows) {
      throw new TableError(`column "${column.name}" has ${columnLength(column)} rows, expected ${numRows}`);
    }
  }
  return { numRows, columns: [...columns] };
}

/** Declared kind of each column for {@link tableFromRows}; columns not named are inferred. */
export type TableSchema = Readonly<Record<string, ColumnKind>>;

/**
 * Builds a table from row objects. Column kinds come from `schema`, else from the first
 * non-missing value of each field: strings are categorical, everything else numeric.
 * Columns appear in `schema` order, then in order of first appearance in the rows.
 *
 * @example
 * const table = tableFromRows([{ distance: 1750, origin: 'DTW' }], { origin: 'categorical' });
 */
export function tableFromRows(rows: readonly Readonly<Record<string, unknown>>[], schema: TableSchema = {}): Table {
  const kinds = new Map<string, ColumnKind>(Object.entries(schema));
  for (const row of rows) {
    for (const key in row) {
      if (kinds.has(key)) continue;
      const v = row[key];
      if (v === null || v === undefined || v === '') continue;
      kinds.set(key, typeof v === 'string' ? 'categorical' : 'numeric');
    }
  }
  // Fields that are missing everywhere still get a (numeric, all-NaN) column.
  for (const row of rows) for (const key in row) if (!kinds.has(key)) kinds.set(key, 'numeric');
  const columns: Column[] = [];
  for (const [name, kind] of kinds) {
    const values = rows.map((row) => row[name]);
    columns.push(kind === 'numeric' ? numericColumn(name, values) : categoricalColumn(name, values));
  }
  return tableFromColumns(columns);
}

/** The column called `name`, or undefined. */
export function findColumn(table: Table, name: string): Column | undefined {
  return table.columns.find((c) => c.name === name);
}

/** The column called `name`; throws a {@link TableError} naming the available columns if absent. */
export function getColumn(table: Table, name: string): Column {
  const column = findColumn(table, name);
  if (!column) {
    throw new TableError(`no column "${name}" (have: ${table.columns.map((c) => c.name).join(', ')})`);
  }
  return column;
}

/** Rows at `indices`, in that order; dictionaries are shared with the source. */
export function takeRows(table: Table, indices: ArrayLike<number>): Table {
  const n = indices.length;
  const columns = table.columns.map((column): Column => {
    if (column.kind === 'numeric') {
      const values = new Float64Array(n);
      for (let i = 0; i < n; i++) values[i] = column.values[indices[i]];
      return { ...column, values };
    }
    const codes = new Int32Array(n);
    for (let i = 0; i < n; i++) codes[i] = column.codes[indices[i]];
    return { ...column, codes };
  });
  return { numRows: n, columns };
}

/** Rows [start, end) as views sharing memory with the source. */
export function sliceRows(table: Table, start: number, end = table.numRows): Table {
  const s = Math.max(0, Math.min(start, table.numRows));
  const e = Math.max(s, Math.min(end, table.numRows));
  const columns = table.columns.map((column): Column =>
    column.kind === 'numeric'
      ? { ...column, values: column.values.subarray(s, e) }
      : { ...column, codes: column.codes.subarray(s, e) },
  );
  return { numRows: e - s, columns };
}

/** The columns named, in the order given. */
export function selectColumns(table: Table, names: readonly string[]): Table {
  return { numRows: table.numRows, columns: names.map((n) => getColumn(table, n)) };
}

/** A copy of `table` with `column` added, or replacing the column of the same name. */
export function withColumn(table: Table, column: Column): Table {
  if (table.columns.length && columnLength(column) !== table.numRows) {
    throw new TableError(`column "${column.name}" has ${columnLength(column)} rows, expected ${table.numRows}`);
  }
  const i = table.columns.findIndex((c) => c.name === column.name);
  const columns = [...table.columns];
  if (i >= 0) columns[i] = column;
  else columns.push(column);
  return { numRows: columnLength(column), columns };
}

/**
 * Re-expresses a categorical column's codes against another dictionary (a model's);
 * categories the target dictionary lacks become {@link MISSING_CODE}.
 */
export function recodeCategorical(column: CategoricalColumn, dictionary: readonly string[]): Int32Array {
  const target = new Map(dictionary.map((s, i) => [s, i]));
  const mapping = new Int32Array(column.dictionary.length);
  for (let c = 0; c < mapping.length; c++) mapping[c] = target.get(column.dictionary[c]) ?? MISSING_CODE;
  const out = new Int32Array(column.codes.length);
  for (let i = 0; i < out.length; i++) {
    const c = column.codes[i];
    out[i] = c < 0 ? MISSING_CODE : mapping[c];
  }
  return out;
}

/** The value at `row` as a plain JavaScript value: number, string, or null when missing. */
export function cellValue(column: Column, row: number): number | string | null {
  if (column.kind === 'numeric') {
    const v = column.values[row];
    return Number.isNaN(v) ? null : v;
  }
  const c = column.codes[row];
  return c < 0 ? null : column.dictionary[c];
}

/** Row objects, for small tables, debugging and tests. */
export function tableToRows(table: Table): Record<string, number | string | null>[] {
  const rows: Record<string, number | string | null>[] = [];
  for (let r = 0; r < table.numRows; r++) {
    const row: Record<string, number | string | null> = {};
    for (const column of table.columns) row[column.name] = cellValue(column, r);
    rows.push(row);
  }
  return rows;
}
