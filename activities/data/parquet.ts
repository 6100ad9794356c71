/**
 * Parquet through hyparquet: reads only the columns asked for, one row group at a time, and skips row groups whose
 * statistics show no row can pass the filters (a date window of a time-ordered file reads a fraction of it).
 */
import fs from 'node:fs';
import {
  parquetMetadataAsync,
  parquetScan,
  parquetSchema,
  type AsyncBuffer,
  type ParquetParsers,
  type SchemaElement,
} from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { IngestInputError, type ColumnSpec, type TableCollector } from './collect';
import type { ColumnType } from './coerce';
import type { OpenedSource } from './source';
import type { ReaderContext } from './readers';

/** Timestamps and dates straight to epoch ms numbers: no Date object per value. */
const PARSERS: Partial<ParquetParsers> = {
  timestampFromMilliseconds: (ms: bigint) => Number(ms),
  timestampFromMicroseconds: (us: bigint) => Math.floor(Number(us) / 1000),
  timestampFromNanoseconds: (ns: bigint) => Number(ns / 1_000_000n),
  dateFromDays: (days: number) => days * 86_400_000,
};

/** Reads byte ranges of a local file on demand (hyparquet fetches the footer, then only the column chunks needed). */
async function fileToAsync(file: string): Promise<AsyncBuffer> {
  const { size } = await fs.promises.stat(file);
  return {
    byteLength: size,
    slice: async (start, end = size) => {
      const handle = await fs.promises.open(file, 'r');
      try {
        const buf = Buffer.allocUnsafeSlow(end - start);
        await handle.read(buf, 0, end - start, start);
        return buf.buffer as ArrayBuffer;
      } finally {
        await handle.close();
      }
    },
  };
}

function bufferToAsync(bytes: Buffer): AsyncBuffer {
  return {
    byteLength: bytes.length,
    slice: (start, end) =>
      bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + (end ?? bytes.length)) as ArrayBuffer,
  };
}

/** The column type a Parquet leaf reads as, or undefined when a Table cannot hold it. */
export function columnTypeOfParquet(element: SchemaElement): ColumnType | undefined {
  const logical = element.logical_type?.type;
  const converted = element.converted_type;
  if (logical === 'TIMESTAMP' || logical === 'DATE' || converted === 'DATE' || /^TIMESTAMP_/.test(converted ?? '')) {
    return 'timestamp';
  }
  if (element.type === 'INT96') return 'timestamp';
  if (logical === 'STRING' || logical === 'ENUM' || converted === 'UTF8' || converted === 'ENUM') return 'category';
  switch (element.type) {
    case 'BOOLEAN':
      return 'boolean';
    case 'INT32':
    case 'INT64':
    case 'FLOAT':
    case 'DOUBLE':
      return 'number';
    case 'BYTE_ARRAY':
      // Unannotated byte arrays decode as UTF-8 text.
      return logical === undefined && converted === undefined ? 'category' : undefined;
    default:
      return undefined;
  }
}

const statNumber = (v: unknown): number =>
  typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : v instanceof Date ? v.getTime() : NaN;

/** Reads a Parquet source into the collector that `ctx.collector` makes for its columns. */
export async function readParquet(src: OpenedSource, ctx: ReaderContext): Promise<TableCollector> {
  const file = 'file' in src ? await fileToAsync(src.file) : bufferToAsync(src.bytes);
  const metadata = await parquetMetadataAsync(file, { parsers: PARSERS });
  const leaves = parquetSchema(metadata).children;
  const available = new Map<string, ColumnType | undefined>();
  for (const leaf of leaves) {
    available.set(leaf.element.name, leaf.children.length ? undefined : columnTypeOfParquet(leaf.element));
  }
  const specs: ColumnSpec[] = ctx.planColumns(
    leaves.map((l) => l.element.name),
    (name) => available.get(name),
  );
  for (const spec of specs) {
    if (!available.get(spec.name)) {
      throw new IngestInputError(`${src.uri}: column "${spec.name}" is nested or of a type that cannot be read`);
    }
  }
  const collector = ctx.collector(specs);
  const names = specs.map((s) => s.name);
  const scan = await parquetScan({ file, metadata, compressors, parsers: PARSERS, columns: names });

  // Row group boundaries, to prune scan ranges by their groups' statistics.
  const groups: { start: number; end: number; index: number }[] = [];
  let start = 0;
  metadata.row_groups.forEach((g, index) => {
    const end = start + Number(g.num_rows);
    groups.push({ start, end, index });
    start = end;
  });
  const columnIndex = new Map(leaves.map((l, i) => [l.element.name, i]));
  const prunable = (rowStart: number, rowEnd: number): boolean =>
    groups
      .filter((g) => g.start < rowEnd && rowStart < g.end)
      .every((g) =>
        names.some((name) => {
          const stats = metadata.row_groups[g.index].columns[columnIndex.get(name)!]?.meta_data?.statistics;
          const min = statNumber(stats?.min_value ?? stats?.min);
          const max = statNumber(stats?.max_value ?? stats?.max);
          return min === min && max === max && !collector.mayMatch(name, min, max);
        }),
      );

  for (const range of scan.ranges) {
    ctx.signal?.throwIfAborted();
    if (prunable(range.rowStart, range.rowEnd)) continue;
    const columns: Record<string, ArrayLike<unknown>> = {};
    for (const name of names) columns[name] = await scan.readColumn({ column: name, ...range });
    collector.push({
      length: range.rowEnd - range.rowStart,
      columns,
      where: (i) => `row ${range.rowStart + i}`,
    });
    ctx.progress(collector);
  }
  return collector;
}
