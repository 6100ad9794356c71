/**
 * The prediction log and the feedback log: what serving answered, and the ground truth that arrived later, in the
 * object store for monitoring. Serving appends in memory (never blocking a request) and a {@link LogWriter} flushes
 * batches as NDJSON objects; the monitor reads a time window back with {@link readLog}.
 *
 * Keys: `<kind>/<model>/<YYYY-MM-DDTHH>/<flush ms, 13 digits>-<writer id>-<seq>.ndjson`, so a time window is a few
 * hour prefixes, and every record in an object is at most {@link MAX_BATCH_AGE_MS} older than the key's time.
 */
import { z } from 'zod';
import type { ArtifactStore } from './artifact-store';

export type LogKind = 'predictions' | 'feedback';

export const FeatureValueSchema = z.union([z.number(), z.string(), z.null()]);

export const PredictionRecordSchema = z.object({
  /** `<request id>` for one-row requests, `<request id>:<row>` otherwise: what feedback refers to. */
  id: z.string(),
  /** Epoch ms when it was answered. */
  ts: z.number(),
  model: z.string(),
  version: z.number().int().positive(),
  /** Which traffic it was: the answer returned (`production` or `canary`) or a shadow score that was not. */
  role: z.enum(['production', 'canary', 'shadow']),
  /** The model's input features after derivation (null = missing). */
  features: z.record(z.string(), FeatureValueSchema),
  /** Positive-class probability (binary), top-class probability (multiclass) or the value (regression). */
  score: z.number(),
  /** Predicted label (classifiers). */
  label: z.union([z.string(), z.number()]).nullable(),
});
export type PredictionRecord = z.infer<typeof PredictionRecordSchema>;

export const FeedbackRecordSchema = z.object({
  id: z.string(),
  ts: z.number(),
  model: z.string(),
  /** The true label (class name or number) or value. */
  label: z.union([z.string(), z.number()]),
});
export type FeedbackRecord = z.infer<typeof FeedbackRecordSchema>;

type RecordOf<K extends LogKind> = K extends 'predictions' ? PredictionRecord : FeedbackRecord;

/** A batch object holds records at most this old at flush time (writers flush at least this often). */
export const MAX_BATCH_AGE_MS = 10_000;

const hourOf = (ms: number): string => new Date(ms).toISOString().slice(0, 13);
const HOUR_MS = 3_600_000;

export const logPrefix = (kind: LogKind, model: string): string => `${kind}/${model}/`;

export function batchKey(kind: LogKind, model: string, flushMs: number, writerId: string, seq: number): string {
  return `${logPrefix(kind, model)}${hourOf(flushMs)}/${String(flushMs).padStart(13, '0')}-${writerId}-${seq}.ndjson`;
}

const keyTime = (key: string): number => Number(key.slice(key.lastIndexOf('/') + 1).split('-')[0]);

/**
 * Records of `model` with `from <= ts < to`, oldest first. Objects that do not parse are skipped line by line
 * (a torn write must not stop monitoring); `skipped` counts them.
 */
export async function readLog<K extends LogKind>(
  store: ArtifactStore,
  kind: K,
  model: string,
  from: number,
  to: number,
  opts: { maxRecords?: number } = {},
): Promise<{ records: RecordOf<K>[]; skipped: number; objects: number }> {
  const schema = kind === 'predictions' ? PredictionRecordSchema : FeedbackRecordSchema;
  const keys: string[] = [];
  for (let hour = Math.floor(from / HOUR_MS) * HOUR_MS; hour < to + MAX_BATCH_AGE_MS; hour += HOUR_MS) {
    const prefix = `${logPrefix(kind, model)}${hourOf(hour)}/`;
    for (const key of await store.list(prefix)) {
      const t = keyTime(key);
      if (t >= from && t < to + MAX_BATCH_AGE_MS) keys.push(key);
    }
  }
  const records: RecordOf<K>[] = [];
  let skipped = 0;
  const max = opts.maxRecords ?? Infinity;
  // Newest objects first when capped, so the window keeps its most recent records.
  const ordered = max === Infinity ? keys : [...keys].reverse();
  for (const key of ordered) {
    const body = await store.tryGet(key);
    if (!body) continue;
    for (const line of body.toString('utf8').split('\n')) {
      if (!line) continue;
      let parsed: z.ZodSafeParseResult<unknown>;
      try {
        parsed = schema.safeParse(JSON.parse(line));
      } catch {
        skipped++;
        continue;
      }
      if (!parsed.success) {
        skipped++;
        continue;
      }
      const record = parsed.data as RecordOf<K>;
      if (record.ts >= from && record.ts < to) records.push(record);
    }
    if (records.length >= max) break;
  }
  records.sort((a, b) => a.ts - b.ts);
  return {
    records: records.length > max ? records.slice(records.length - max) : records,
    skipped,
    objects: keys.length,
  };
}

export interface LogWriterOptions {
  store: ArtifactStore;
  kind: LogKind;
  /** Unique per process (e.g. the serving instance id); part of every key. */
  writerId: string;
  /** Flush when this many records wait. @default 5000 */
  batchRecords?: number;
  /** Flush at least this often. @default 2000 (must stay below {@link MAX_BATCH_AGE_MS}) */
  flushIntervalMs?: number;
  /** Records kept in memory while the store is down; past it, the oldest are dropped and counted. @default 100000 */
  maxBuffered?: number;
  /** Told about each failed flush (the writer keeps the records and tries again). */
  onError?: (err: Error) => void;
}

/** Buffers records per model and writes them in batches; `append` never blocks and never throws. */
export class LogWriter<K extends LogKind> {
  private buffers = new Map<string, RecordOf<K>[]>();
  private buffered = 0;
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private flushQueued = false;
  /** Records dropped because the buffer was full. */
  dropped = 0;
  /** Records written to the store. */
  written = 0;
  /** Flushes that failed (the store was unreachable, ...). */
  failedFlushes = 0;

  constructor(private readonly opts: LogWriterOptions & { kind: K }) {
    this.timer = setInterval(() => void this.flush(), opts.flushIntervalMs ?? 2000);
    this.timer.unref();
  }

  append(record: RecordOf<K>): void {
    const max = this.opts.maxBuffered ?? 100_000;
    if (this.buffered >= max) {
      // Drop from the largest buffer's oldest end: the newest records matter most to monitoring.
      let largest: RecordOf<K>[] | undefined;
      for (const b of this.buffers.values()) if (!largest || b.length > largest.length) largest = b;
      largest?.shift();
      this.buffered--;
      this.dropped++;
    }
    let buffer = this.buffers.get(record.model);
    if (!buffer) this.buffers.set(record.model, (buffer = []));
    buffer.push(record);
    this.buffered++;
    // Flush on a later turn: serialising a batch inside the request that filled it would delay the next ones.
    if (buffer.length >= (this.opts.batchRecords ?? 5000) && !this.flushing && !this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => {
        this.flushQueued = false;
        void this.flush();
      });
    }
  }

  /** Number of records waiting in memory. */
  get pending(): number {
    return this.buffered;
  }

  /** Writes every buffered record; resolves when done or failed (failures keep the records for the next try). */
  flush(): Promise<void> {
    this.flushing ??= this.flushOnce().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    for (const [model, records] of [...this.buffers]) {
      if (!records.length) continue;
      const batch = records.splice(0, records.length);
      const key = batchKey(this.opts.kind, model, Date.now(), this.opts.writerId, this.seq++);
      try {
        await this.opts.store.put(key, batch.map((r) => JSON.stringify(r)).join('\n') + '\n', {
          contentType: 'application/x-ndjson',
        });
        this.buffered -= batch.length;
        this.written += batch.length;
      } catch (err) {
        this.failedFlushes++;
        // Put them back in front of anything appended meanwhile; `append` enforces the bound.
        const current = this.buffers.get(model) ?? [];
        this.buffers.set(model, [...batch, ...current]);
        this.opts.onError?.(err as Error);
        return;
      }
    }
  }

  /** Stops the timer and flushes what is left (one try). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
