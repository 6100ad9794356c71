/**
 * Data of `npm run bench:train`: vega-datasets' flights-3m.parquet read into an ml/ Table with the
 * benchmark's features, and the Arrow IPC file every trainer (ours and the Python ones) reads, so all
 * of them see identical rows.
 */
import { readFileSync } from 'node:fs';
import {
  DataType,
  Dictionary,
  Int32,
  makeData,
  makeVector,
  Table as ArrowTable,
  tableFromIPC,
  tableToIPC,
  Utf8,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import { parquetMetadata, parquetRead } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { categoricalColumn, numericColumn, MISSING_CODE, tableFromColumns, takeRows, type Table } from '../ml/table';

/** Label and features, as the issue fixes them. */
export const LABEL = 'delayed';
export const FEATURES = ['distance', 'origin', 'destination', 'hour', 'dayOfWeek', 'month'] as const;

/** The parquet file, found as the demo's replayer finds it. */
export { flightsParquetFile as flightsParquetPath } from '../cli/replay';

export interface IngestResult {
  /** Rows ordered by departure time: time, the features, and delayed (1 iff delay > 15 min). */
  table: Table;
  /** Rows in the file. */
  fileRows: number;
  /** Rows dropped because the delay (the label) is missing. */
  droppedRows: number;
}

const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 86_400_000;

/**
 * Reads the first `maxRows` flights column by column (no row objects) and derives the features.
 * The file's timestamps are naive local times, so hour, weekday and month are read in UTC, which
 * leaves them as written.
 */
export async function ingestFlights(path: string, maxRows = Infinity): Promise<IngestResult> {
  const bytes = readFileSync(path);
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const metadata = parquetMetadata(file);
  const fileRows = Number(metadata.num_rows);
  const n = Math.min(fileRows, maxRows);
  const time = new Float64Array(n);
  const delay = new Float64Array(n);
  const distance = new Float64Array(n);
  const origin: (string | null)[] = new Array(n);
  const destination: (string | null)[] = new Array(n);
  const numeric: Record<string, Float64Array> = { date: time, delay, distance };
  const strings: Record<string, (string | null)[]> = { origin, destination };
  await parquetRead({
    file,
    metadata,
    compressors,
    rowStart: 0,
    rowEnd: n,
    columns: ['date', 'delay', 'distance', 'origin', 'destination'],
    // Milliseconds as plain numbers: no Date object per row.
    parsers: { timestampFromMicroseconds: (micros: bigint) => Number(micros) / 1000 },
    onChunk: ({ columnName, columnData, rowStart, rowEnd }) => {
      const end = Math.min(rowEnd, n);
      const target = numeric[columnName];
      if (target) {
        for (let r = rowStart; r < end; r++) {
          const v = columnData[r - rowStart];
          target[r] = v === null || v === undefined ? NaN : Number(v);
        }
      } else {
        const out = strings[columnName];
        for (let r = rowStart; r < end; r++) out[r] = (columnData[r - rowStart] as string | null) ?? null;
      }
    },
  });

  const hour = new Float64Array(n);
  const dayOfWeek = new Float64Array(n);
  const month = new Float64Array(n);
  const delayed = new Float64Array(n);
  const monthOfDay = new Map<number, number>();
  let kept = 0;
  const keep = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const t = time[r];
    const day = Math.floor(t / MS_PER_DAY);
    hour[r] = Math.floor((t - day * MS_PER_DAY) / MS_PER_HOUR);
    dayOfWeek[r] = (((day + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday
    let m = monthOfDay.get(day);
    if (m === undefined) monthOfDay.set(day, (m = new Date(day * MS_PER_DAY).getUTCMonth() + 1));
    month[r] = m;
    delayed[r] = delay[r] > 15 ? 1 : 0;
    if (!Number.isNaN(delay[r]) && !Number.isNaN(t)) keep[kept++] = r;
  }
  let table = tableFromColumns([
    numericColumn('time', time),
    numericColumn('distance', distance),
    categoricalColumn('origin', origin),
    categoricalColumn('destination', destination),
    numericColumn('hour', hour),
    numericColumn('dayOfWeek', dayOfWeek),
    numericColumn('month', month),
    numericColumn(LABEL, delayed),
  ]);
  // The time split needs rows in time order: keep rows with a label, stably sorted by time.
  let sorted = kept === n;
  for (let i = 1; sorted && i < kept; i++) if (time[keep[i]] < time[keep[i - 1]]) sorted = false;
  if (!sorted) {
    const order = Array.from(keep.subarray(0, kept)).sort((a, b) => time[a] - time[b] || a - b);
    table = takeRows(table, order);
  }
  return { table, fileRows, droppedRows: n - kept };
}

function arrowColumn(table: Table, name: string): Vector {
  const column = table.columns.find((c) => c.name === name);
  if (!column) throw new Error(`no column ${name}`);
  if (column.kind === 'numeric') return makeVector(column.values);
  const n = column.codes.length;
  const indices = new Int32Array(n);
  const validity = new Uint8Array((n + 7) >> 3);
  let nullCount = 0;
  for (let i = 0; i < n; i++) {
    const c = column.codes[i];
    if (c === MISSING_CODE) nullCount++;
    else {
      indices[i] = c;
      validity[i >> 3] |= 1 << (i & 7);
    }
  }
  const dictionary = vectorFromArray([...column.dictionary], new Utf8());
  const type = new Dictionary(new Utf8(), new Int32());
  return makeVector(
    makeData({ type, length: n, nullCount, nullBitmap: nullCount ? validity : null, data: indices, dictionary }),
  );
}

/**
 * The features and label as one Arrow IPC file (one record batch): Float64 numeric columns (NaN
 * missing), dictionary<int32, utf8> categorical columns whose indices are the Table's codes.
 */
export function tableToArrowIpc(table: Table): Uint8Array {
  const names = [...FEATURES, LABEL];
  return tableToIPC(new ArrowTable(Object.fromEntries(names.map((name) => [name, arrowColumn(table, name)]))), 'file');
}

/** Reads {@link tableToArrowIpc}'s file back into a Table. */
export function tableFromArrowIpc(bytes: Uint8Array): Table {
  const arrow = tableFromIPC(bytes);
  return tableFromColumns(
    arrow.schema.fields.map((field) => {
      const vector = arrow.getChild(field.name)!;
      if (DataType.isFloat(field.type)) return numericColumn(field.name, vector.toArray() as Float64Array);
      if (!DataType.isDictionary(field.type)) throw new Error(`column ${field.name}: unexpected ${field.type}`);
      const codes = new Int32Array(vector.length);
      let dictionary: readonly string[] = [];
      let at = 0;
      for (const data of vector.data) {
        dictionary = (data.dictionary!.toArray() as string[]).map(String);
        const indices = data.values as Int32Array;
        for (let i = 0; i < data.length; i++) codes[at + i] = data.getValid(i) ? indices[i] : MISSING_CODE;
        at += data.length;
      }
      return { kind: 'categorical' as const, name: field.name, codes, dictionary };
    }),
  );
}
