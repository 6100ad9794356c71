/**
 * CSV through csv-parse, streamed: the first record is the header; a malformed line (wrong number of fields, a
 * broken quote) or a value of the wrong type is a bad row named by its line number.
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { parse, type CsvError } from 'csv-parse';
import { BadRowError, IngestInputError, type TableCollector } from './collect';
import { inferColumnType } from './coerce';
import type { ReaderContext } from './readers';
import type { OpenedSource } from './source';

/** Rows per chunk handed to the collector (and rows sniffed to infer undeclared column types). */
export const CSV_CHUNK_ROWS = 65_536;

/** csv-parse's messages end in "on line N" / "at line N": the line is said once, in front. */
const reasonOf = (err: CsvError): string => err.message.replace(/\s+(on|at) line \d+/, '');

export async function readCsv(src: OpenedSource, ctx: ReaderContext): Promise<TableCollector> {
  const input = 'file' in src ? fs.createReadStream(src.file) : Readable.from([src.bytes]);
  // Lines csv-parse could not read before the collector exists (it is made after the first chunk).
  const pendingBad: { where: string; reason: string }[] = [];
  let collector: TableCollector | undefined;
  const parser = input.pipe(
    parse({
      bom: true,
      skip_empty_lines: true,
      info: true,
      skip_records_with_error: true,
      on_skip: (err: CsvError | undefined) => {
        if (!err) return;
        const where = `line ${err.lines ?? '?'}`;
        if (ctx.onBadRows === 'fail') throw new BadRowError(where, reasonOf(err));
        if (collector) collector.badRow(where, reasonOf(err));
        else pendingBad.push({ where, reason: reasonOf(err) });
      },
    }),
  );
  input.on('error', (err: Error) => parser.destroy(err));

  let header: string[] | undefined;
  let records: string[][] = [];
  let lines: number[] = [];
  let indexes: number[] = [];
  const flush = () => {
    if (!collector) {
      const sniffed = (name: string) => records.map((r) => r[header!.indexOf(name)]);
      const specs = ctx.planColumns(header!, (name) => inferColumnType(sniffed(name)));
      indexes = specs.map((s) => header!.indexOf(s.name));
      collector = ctx.collector(specs);
      for (const bad of pendingBad.splice(0)) collector.badRow(bad.where, bad.reason);
    }
    const chunkLines = lines;
    const columns: Record<string, string[]> = {};
    collector.columns.forEach((spec, j) => {
      const at = indexes[j];
      columns[spec.name] = records.map((r) => r[at]);
    });
    collector.push({ length: records.length, columns, where: (i) => `line ${chunkLines[i]}` });
    records = [];
    lines = [];
    ctx.progress(collector);
    ctx.signal?.throwIfAborted();
  };
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      if (!header) {
        header = record.map((h) => h.trim());
        const dup = header.find((h, i) => header!.indexOf(h) !== i);
        if (dup !== undefined) throw new IngestInputError(`${src.uri}: the header names column "${dup}" twice`);
        continue;
      }
      records.push(record);
      lines.push(info.lines);
      if (records.length >= CSV_CHUNK_ROWS) flush();
    }
  } finally {
    input.destroy();
  }
  if (!header) throw new IngestInputError(`${src.uri}: empty CSV (no header line)`);
  if (records.length || !collector) flush();
  return collector!;
}
