/**
 * Reading a source into a typed Table: opens it, picks the reader by format, and hands every reader the same
 * collector (coercion to the declared types, filters, bad-row policy), so formats only differ in how they decode.
 */
import fs from 'node:fs';
import { tableFromIPC } from 'apache-arrow';
import type { Table } from '../../ml/table';
import type { ArtifactStore } from '../../storage/artifact-store';
import { arrowChunkValues, columnTypeOfArrow } from './arrow';
import { IngestInputError, TableCollector, type ColumnSpec, type RowFilter } from './collect';
import type { ColumnType } from './coerce';
import { readCsv } from './csv';
import { readJson, readNdjson } from './json';
import { readParquet } from './parquet';
import type { DataFormat } from './formats';
import { formatOf, openSource, type OpenedSource } from './source';

export interface ReadOptions {
  /** Columns to read and their types, in this order; all columns (types inferred) when absent. */
  columns?: Readonly<Record<string, ColumnType>>;
  /** The format; by default the source's extension says. */
  format?: DataFormat;
  filters?: readonly RowFilter[];
  /** Reject the source at the first bad row, or skip and count bad rows. @default 'fail' */
  onBadRows?: 'fail' | 'skip';
  /** Stops reading between chunks (the step's cancellation). */
  signal?: AbortSignal;
  /** Called after each chunk with the rows read so far (the step heartbeats). */
  onProgress?: (progress: { rowsRead: number; rows: number }) => void;
}

export interface ReadResult {
  table: Table;
  types: Record<string, ColumnType>;
  format: DataFormat;
  /** Rows read from the source (row groups skipped by their statistics are not counted). */
  rowsRead: number;
  badRows: number;
  /** The first few bad rows, e.g. `line 17: Invalid Record Length: expect 5, got 4`. */
  badRowExamples: string[];
}

/** What a format reader gets: how to choose columns, make the collector, report progress. */
export interface ReaderContext {
  onBadRows: 'fail' | 'skip';
  signal?: AbortSignal;
  /**
   * The columns to read: the declared ones (each must be in `available`), else every available column whose type
   * `infer` knows, in source order.
   */
  planColumns(available: readonly string[], infer: (name: string) => ColumnType | undefined): ColumnSpec[];
  collector(columns: ColumnSpec[]): TableCollector;
  progress(collector: TableCollector): void;
}

type Reader = (src: OpenedSource, ctx: ReaderContext) => Promise<TableCollector>;

const READERS: Record<DataFormat, Reader> = {
  parquet: readParquet,
  csv: readCsv,
  json: readJson,
  ndjson: readNdjson,
  arrow: readArrowSource,
};

/**
 * Reads a source (`npm://`, `file://`, `s3://`) into a Table.
 *
 * @throws IngestInputError when the source, its format or a column named in the options does not fit;
 *   BadRowError at the first bad row with `onBadRows: 'fail'`.
 * @example
 * const { table, types } = await readSource('npm://vega-datasets/data/flights-3m.parquet', store, {
 *   columns: { date: 'timestamp', delay: 'number', origin: 'category' },
 *   filters: [{ column: 'date', from: '2001-01-01', to: '2001-02-01' }],
 * });
 */
export async function readSource(uri: string, store: ArtifactStore, opts: ReadOptions = {}): Promise<ReadResult> {
  const format = formatOf(uri, opts.format);
  const src = await openSource(uri, store);
  const onBadRows = opts.onBadRows ?? 'fail';
  const ctx: ReaderContext = {
    onBadRows,
    signal: opts.signal,
    planColumns: (available, infer) => {
      if (opts.columns) {
        const have = new Set(available);
        const absent = Object.keys(opts.columns).filter((name) => !have.has(name));
        if (absent.length) {
          const names = absent.map((a) => `"${a}"`).join(', ');
          throw new IngestInputError(`${uri} has no column ${names} (has: ${available.join(', ')})`);
        }
        return Object.entries(opts.columns).map(([name, type]) => ({ name, type }));
      }
      return available.flatMap((name) => {
        const type = infer(name);
        return type ? [{ name, type }] : [];
      });
    },
    collector: (columns) => new TableCollector({ columns, filters: opts.filters, onBadRows }),
    progress: (collector) => opts.onProgress?.({ rowsRead: collector.rowsRead, rows: collector.rows }),
  };
  const collector = await READERS[format](src, ctx);
  const { table, types } = collector.finish();
  return {
    table,
    types,
    format,
    rowsRead: collector.rowsRead,
    badRows: collector.badRows,
    badRowExamples: [...collector.badRowExamples],
  };
}

/** Arrow IPC (file or stream), one record batch at a time. */
async function readArrowSource(src: OpenedSource, ctx: ReaderContext): Promise<TableCollector> {
  const bytes = 'file' in src ? await fs.promises.readFile(src.file) : src.bytes;
  let arrow;
  try {
    arrow = tableFromIPC(bytes);
  } catch (err) {
    throw new IngestInputError(`${src.uri}: not an Arrow IPC file or stream (${(err as Error).message})`);
  }
  const fields = arrow.schema.fields;
  const specs = ctx.planColumns(
    fields.map((f) => f.name),
    (name) => columnTypeOfArrow(fields.find((f) => f.name === name)!.type),
  );
  const collector = ctx.collector(specs);
  const index = new Map(fields.map((f, i) => [f.name, i]));
  let offset = 0;
  for (const batch of arrow.batches) {
    ctx.signal?.throwIfAborted();
    const columns: Record<string, ArrayLike<unknown>> = {};
    for (const spec of specs) {
      const child = batch.getChildAt(index.get(spec.name)!)!;
      columns[spec.name] = arrowChunkValues(child.data[0]);
    }
    const start = offset;
    collector.push({ length: batch.numRows, columns, where: (i) => `row ${start + i}` });
    offset += batch.numRows;
    ctx.progress(collector);
  }
  return collector;
}
