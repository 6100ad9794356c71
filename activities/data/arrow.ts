/**
 * Table <-> Arrow IPC, the format datasets are stored in. The encoding is deterministic (same table and types, same
 * bytes), which is what lets datasets be content-addressed by the sha256 of their file.
 *
 * Arrow types written: number → the smallest of Int8/Int16/Int32 that holds every value when all are integers,
 * else Float64; timestamp → Timestamp(ms, UTC); boolean → Bool; category → Dictionary<Int32, Utf8> whose indices
 * are the table's codes (the sorted dictionary travels along). Missing values are Arrow nulls.
 */
import {
  Bool,
  Dictionary,
  Field,
  Float64,
  Int16,
  Int32,
  Int8,
  makeData,
  makeVector,
  RecordBatch,
  Schema,
  Struct,
  Table as ArrowTable,
  tableFromIPC,
  tableToIPC,
  TimeUnit,
  Timestamp,
  Type,
  Utf8,
  vectorFromArray,
  type Data,
  type DataType,
  type Vector,
} from 'apache-arrow';
import { MISSING_CODE, tableFromColumns, type Column, type Table } from '../../ml/table';
import type { ColumnType } from './coerce';

/** A local copy: hot loops then read a binding, not an export getter. */
const MISSING: number = MISSING_CODE;

type Validity = { bitmap: Uint8Array | null; nullCount: number };

/** Bit i of the validity bitmap is set where the value is present (Arrow's LSB bit order); no bitmap if none miss. */
function numericValidity(values: Float64Array): Validity {
  const n = values.length;
  const bitmap = new Uint8Array((n + 7) >> 3);
  let nullCount = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === v) bitmap[i >> 3] |= 1 << (i & 7);
    else nullCount++;
  }
  return { bitmap: nullCount ? bitmap : null, nullCount };
}

function codeValidity(codes: Int32Array): Validity {
  const n = codes.length;
  const bitmap = new Uint8Array((n + 7) >> 3);
  let nullCount = 0;
  for (let i = 0; i < n; i++) {
    if (codes[i] !== MISSING) bitmap[i >> 3] |= 1 << (i & 7);
    else nullCount++;
  }
  return { bitmap: nullCount ? bitmap : null, nullCount };
}

/** Epoch ms (integers below 2^53) as little-endian int64 words, without a BigInt per value. */
function int64Words(values: Float64Array): BigInt64Array {
  const out = new BigInt64Array(values.length);
  const words = new Uint32Array(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== v) continue; // null slot: 0
    const t = Math.floor(v);
    const high = Math.floor(t / 4294967296);
    words[2 * i] = t - high * 4294967296;
    words[2 * i + 1] = high; // two's complement for negative times: Uint32Array wraps
  }
  return out;
}

function integerType(values: Float64Array): DataType | undefined {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== v) continue;
    if (!Number.isInteger(v) || Object.is(v, -0)) return undefined;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo >= -128 && hi <= 127) return new Int8();
  if (lo >= -32768 && hi <= 32767) return new Int16();
  if (lo >= -2147483648 && hi <= 2147483647) return new Int32();
  return undefined;
}

function columnData(column: Column, type: ColumnType, id: number): { field: Field; data: Data } {
  const n = column.kind === 'numeric' ? column.values.length : column.codes.length;
  if (column.kind === 'categorical') {
    // An explicit dictionary id: apache-arrow otherwise numbers dictionaries from a process-wide counter.
    const arrowType = new Dictionary(new Utf8(), new Int32(), id, false);
    const codes = column.codes;
    const { bitmap, nullCount } = codeValidity(codes);
    const indices = nullCount ? codes.map((c) => (c === MISSING ? 0 : c)) : codes;
    const dictionary = vectorFromArray([...column.dictionary], new Utf8());
    const data = makeData({ type: arrowType, length: n, nullCount, nullBitmap: bitmap, data: indices, dictionary });
    return { field: new Field(column.name, arrowType, true), data };
  }
  const values = column.values;
  const { bitmap, nullCount } = numericValidity(values);
  // Null slots hold 0, not whatever NaN payload the Float64Array had.
  const clean = (v: number) => (v === v ? v : 0);
  if (type === 'timestamp') {
    const arrowType = new Timestamp(TimeUnit.MILLISECOND, 'UTC');
    const ms = int64Words(values);
    return {
      field: new Field(column.name, arrowType, true),
      data: makeData({ type: arrowType, length: n, nullCount, nullBitmap: bitmap, data: ms }),
    };
  }
  if (type === 'boolean') {
    const bits = new Uint8Array((n + 7) >> 3);
    for (let i = 0; i < n; i++) if (values[i] === values[i] && values[i] !== 0) bits[i >> 3] |= 1 << (i & 7);
    const arrowType = new Bool();
    return {
      field: new Field(column.name, arrowType, true),
      data: makeData({ type: arrowType, length: n, nullCount, nullBitmap: bitmap, data: bits }),
    };
  }
  const intType = integerType(values);
  if (intType) {
    const Ctor = intType instanceof Int8 ? Int8Array : intType instanceof Int16 ? Int16Array : Int32Array;
    const ints = new Ctor(n);
    for (let i = 0; i < n; i++) ints[i] = clean(values[i]);
    return {
      field: new Field(column.name, intType, true),
      data: makeData({ type: intType as Int32, length: n, nullCount, nullBitmap: bitmap, data: ints as Int32Array }),
    };
  }
  const arrowType = new Float64();
  const floats = nullCount ? values.map(clean) : values;
  return {
    field: new Field(column.name, arrowType, true),
    data: makeData({ type: arrowType, length: n, nullCount, nullBitmap: bitmap, data: floats }),
  };
}

/**
 * Encodes a table as one Arrow IPC file (a single record batch).
 *
 * @param types declared type per column; numeric columns without one are numbers, categorical ones categories.
 * @example
 * const bytes = tableToArrow(table, { date: 'timestamp', delayed: 'boolean' });
 * const sha256 = createHash('sha256').update(bytes).digest('hex');
 */
export function tableToArrow(table: Table, types: Readonly<Record<string, ColumnType>> = {}): Uint8Array {
  const parts = table.columns.map((column, i) =>
    columnData(column, column.kind === 'categorical' ? 'category' : (types[column.name] ?? 'number'), i),
  );
  const fields = parts.map((p) => p.field);
  const schema = new Schema(fields);
  const struct = makeData({
    type: new Struct(fields),
    length: table.numRows,
    nullCount: 0,
    children: parts.map((p) => p.data),
  });
  return tableToIPC(new ArrowTable(schema, [new RecordBatch(schema, struct)]), 'file');
}

/** The column type an Arrow type reads as, or undefined for types a Table cannot hold (lists, structs, ...). */
export function columnTypeOfArrow(type: DataType): ColumnType | undefined {
  switch (type.typeId) {
    case Type.Int:
    case Type.Float:
      return 'number';
    case Type.Timestamp:
    case Type.Date:
      return 'timestamp';
    case Type.Bool:
      return 'boolean';
    case Type.Utf8:
    case Type.LargeUtf8:
      return 'category';
    case Type.Dictionary:
      return columnTypeOfArrow((type as Dictionary).dictionary) === 'category' ? 'category' : undefined;
    default:
      return undefined;
  }
}

const MS_PER_UNIT: Record<number, number> = {
  [TimeUnit.SECOND]: 1000,
  [TimeUnit.MILLISECOND]: 1,
  [TimeUnit.MICROSECOND]: 1e-3,
  [TimeUnit.NANOSECOND]: 1e-6,
};

/**
 * The values of one Arrow column chunk in the shape the collector coerces: numbers (timestamps as epoch ms, NaN for
 * nulls), booleans, or strings (null where missing).
 */
export function arrowChunkValues(data: Data): ArrayLike<unknown> {
  const n = data.length;
  const type = data.type as DataType;
  const valid = (i: number) => data.nullCount === 0 || data.getValid(i);
  if (type.typeId === Type.Dictionary) {
    const dictionary = (data.dictionary as Vector).toArray() as ArrayLike<unknown>;
    const indices = data.values as ArrayLike<number | bigint>;
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = valid(i) ? dictionary[Number(indices[i])] : null;
    return out;
  }
  if (type.typeId === Type.Timestamp) {
    const out = new Float64Array(n);
    const scale = MS_PER_UNIT[(type as Timestamp).unit];
    const values = data.values as unknown as ArrayLike<number | bigint>;
    for (let i = 0; i < n; i++) out[i] = valid(i) ? Math.floor(Number(values[i]) * scale) : NaN;
    return out;
  }
  if (type.typeId === Type.Date) {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const v = valid(i) ? getValue(data, i) : null;
      out[i] = v instanceof Date ? v.getTime() : typeof v === 'number' || typeof v === 'bigint' ? Number(v) : NaN;
    }
    return out;
  }
  if ((type.typeId === Type.Int || type.typeId === Type.Float) && ArrayBuffer.isView(data.values)) {
    const values = data.values as unknown as ArrayLike<number | bigint>;
    const out = new Float64Array(n);
    // Float16 is stored as uint16 bits: read it through the vector's getter instead.
    if ((type as { precision?: number }).precision === 0) {
      for (let i = 0; i < n; i++) out[i] = valid(i) ? Number(getValue(data, i)) : NaN;
      return out;
    }
    for (let i = 0; i < n; i++) out[i] = valid(i) ? Number(values[i]) : NaN;
    return out;
  }
  const out = new Array<unknown>(n);
  for (let i = 0; i < n; i++) out[i] = valid(i) ? getValue(data, i) : null;
  return out;
}

const vectors = new WeakMap<Data, Vector>();

/** Data has no public getter; a vector over it does (made once per chunk). */
function getValue(data: Data, i: number): unknown {
  let vector = vectors.get(data);
  if (!vector) vectors.set(data, (vector = makeVector(data)));
  return vector.get(i);
}

/**
 * Decodes an Arrow IPC file or stream, with the column type of each column.
 *
 * @throws Error for a column of a type a Table cannot hold.
 */
export function readArrowTable(bytes: Uint8Array): { table: Table; types: Record<string, ColumnType> } {
  const arrow = tableFromIPC(bytes);
  const types: Record<string, ColumnType> = {};
  const columns = arrow.schema.fields.map((field): Column => {
    const type = columnTypeOfArrow(field.type);
    if (!type) throw new Error(`column "${field.name}": Arrow type ${field.type} is not supported`);
    types[field.name] = type;
    const vector = arrow.getChild(field.name)!;
    if (type !== 'category') {
      const values = new Float64Array(vector.length);
      let at = 0;
      for (const data of vector.data) {
        const chunk = arrowChunkValues(data);
        for (let i = 0; i < data.length; i++) {
          const v = chunk[i];
          values[at + i] = v === null ? NaN : typeof v === 'boolean' ? (v ? 1 : 0) : Number(v);
        }
        at += data.length;
      }
      return { kind: 'numeric', name: field.name, values };
    }
    return categoricalFromArrow(field.name, vector);
  });
  return { table: tableFromColumns(columns), types };
}

/** Dictionary columns keep their codes when the (single) dictionary is already sorted: no string work at all. */
function categoricalFromArrow(name: string, vector: Vector): Column {
  const n = vector.length;
  const codes = new Int32Array(n);
  const chunks = vector.data;
  const dict0 = chunks[0]?.dictionary ? ((chunks[0].dictionary as Vector).toArray() as string[]) : undefined;
  const sameSortedDictionary =
    dict0 !== undefined &&
    chunks.every((d) => d.dictionary === chunks[0].dictionary) &&
    dict0.every((s, i) => typeof s === 'string' && (i === 0 || dict0[i - 1] < s));
  if (sameSortedDictionary) {
    let at = 0;
    for (const data of chunks) {
      const indices = data.values as Int32Array;
      for (let i = 0; i < data.length; i++) {
        codes[at + i] = data.nullCount === 0 || data.getValid(i) ? Number(indices[i]) : MISSING;
      }
      at += data.length;
    }
    // '' counts as missing in a Table (see ml/table.ts).
    const empty = dict0.indexOf('');
    if (empty < 0) return { kind: 'categorical', name, codes, dictionary: dict0 };
  }
  const strings: unknown[] = [];
  for (const data of chunks) {
    const chunk = arrowChunkValues(data);
    for (let i = 0; i < data.length; i++) strings.push(chunk[i]);
  }
  const seen = [...new Set(strings.filter((s): s is string => typeof s === 'string' && s !== ''))].sort((a, b) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  const index = new Map(seen.map((s, i) => [s, i]));
  for (let i = 0; i < n; i++) {
    const s = strings[i];
    codes[i] = typeof s === 'string' && s !== '' ? index.get(s)! : MISSING;
  }
  return { kind: 'categorical', name, codes, dictionary: seen };
}

/**
 * Decodes an Arrow IPC dataset (as the ingest step writes) into a Table: timestamps become epoch ms, booleans 1 / 0.
 *
 * @example
 * const train = arrowToTable(await store.get(key));
 */
export function arrowToTable(bytes: Uint8Array): Table {
  return readArrowTable(bytes).table;
}
