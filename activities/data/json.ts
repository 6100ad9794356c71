/**
 * JSON sources: a JSON array of row objects, or NDJSON (one object per line, streamed). Keys are columns; an
 * element that is not an object, or an NDJSON line that does not parse, is a bad row.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import { Readable } from 'node:stream';
import { BadRowError, type TableCollector } from './collect';
import { inferColumnType } from './coerce';
import type { ReaderContext } from './readers';
import type { OpenedSource } from './source';

/** Rows per chunk handed to the collector (and rows sniffed for keys and types). */
export const JSON_CHUNK_ROWS = 65_536;

const isRow = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Gathers row objects into chunks; the first chunk decides the columns when they are not declared. */
class RowChunker {
  private rows: Record<string, unknown>[] = [];
  private wheres: string[] = [];
  private pendingBad: { where: string; reason: string }[] = [];
  collector: TableCollector | undefined;

  constructor(private readonly ctx: ReaderContext) {}

  bad(where: string, reason: string): void {
    if (this.ctx.onBadRows === 'fail') throw new BadRowError(where, reason);
    if (this.collector) this.collector.badRow(where, reason);
    else this.pendingBad.push({ where, reason });
  }

  add(row: Record<string, unknown>, where: string): void {
    this.rows.push(row);
    this.wheres.push(where);
    if (this.rows.length >= JSON_CHUNK_ROWS) this.flush();
  }

  flush(): void {
    if (!this.collector) {
      const keys = new Set<string>();
      for (const row of this.rows) for (const k of Object.keys(row)) keys.add(k);
      const specs = this.ctx.planColumns([...keys], (name) => inferColumnType(this.rows.map((r) => r[name])));
      this.collector = this.ctx.collector(specs);
      for (const b of this.pendingBad.splice(0)) this.collector.badRow(b.where, b.reason);
    }
    const rows = this.rows;
    const wheres = this.wheres;
    const columns: Record<string, unknown[]> = {};
    for (const spec of this.collector.columns) columns[spec.name] = rows.map((r) => r[spec.name]);
    this.collector.push({ length: rows.length, columns, where: (i) => wheres[i] });
    this.rows = [];
    this.wheres = [];
    this.ctx.progress(this.collector);
    this.ctx.signal?.throwIfAborted();
  }

  finish(): TableCollector {
    if (this.rows.length || !this.collector) this.flush();
    return this.collector!;
  }
}

/** Reads a JSON array of objects (the whole file is parsed at once). */
export async function readJson(src: OpenedSource, ctx: ReaderContext): Promise<TableCollector> {
  const text = 'file' in src ? await fs.promises.readFile(src.file, 'utf8') : src.bytes.toString('utf8');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new BadRowError(src.uri, `not valid JSON (${(err as Error).message}); for one object per line use ndjson`);
  }
  if (!Array.isArray(data)) throw new BadRowError(src.uri, 'expected a JSON array of row objects');
  const chunker = new RowChunker(ctx);
  data.forEach((row, i) => {
    if (isRow(row)) chunker.add(row, `element ${i}`);
    else chunker.bad(`element ${i}`, `expected an object, got ${JSON.stringify(row)?.slice(0, 40)}`);
  });
  return chunker.finish();
}

/** Reads NDJSON line by line; blank lines are ignored. */
export async function readNdjson(src: OpenedSource, ctx: ReaderContext): Promise<TableCollector> {
  const input = 'file' in src ? fs.createReadStream(src.file) : Readable.from([src.bytes]);
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  const chunker = new RowChunker(ctx);
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (!line.trim()) continue;
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch (err) {
        chunker.bad(`line ${n}`, `invalid JSON (${(err as Error).message})`);
        continue;
      }
      if (isRow(row)) chunker.add(row, `line ${n}`);
      else chunker.bad(`line ${n}`, `expected an object, got ${line.trim().slice(0, 40)}`);
    }
  } finally {
    lines.close();
    input.destroy();
  }
  return chunker.finish();
}
