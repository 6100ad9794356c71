/**
 * The traffic replayer of the demo (`mlpipe replay`): sends real flights, in departure order, to serving's
 * `/v1/models/<model>/predict` as live traffic, faster than real time, and posts each flight's true label
 * (`delay > 15`) to `/v1/models/<model>/feedback` once a simulated delay has passed, as ground truth arrives
 * late in production. Monitoring then sees the prediction log and the labels exactly as it would see real ones.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parquetMetadata, parquetRead } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

export interface ReplayOptions {
  /** Serving base URL, e.g. http://127.0.0.1:8080. */
  servingUrl: string;
  model: string;
  /** First departure replayed (inclusive), ISO date. */
  from: string;
  /** Last departure replayed (exclusive), ISO date. */
  to: string;
  /** Keep one flight in N (deterministic: every Nth in departure order). @default 20 */
  sampleEvery?: number;
  /** Requests per second, evenly spaced. @default 200 */
  rate?: number;
  /** Simulated hours between a departure and its label reaching serving. @default 24 */
  labelDelayHours?: number;
  /** Requests in flight at most. @default 16 */
  concurrency?: number;
  signal?: AbortSignal;
  /** Called about once a second and at the end. */
  onProgress?: (progress: ReplayProgress) => void;
}

export interface ReplayProgress {
  /** Departure time of the last flight sent (ms since epoch, naive local time read as UTC). */
  simTime: number;
  sent: number;
  /** Requests that did not get a 2xx (the replayer goes on). */
  failed: number;
  labelsSent: number;
  /** Requests answered per model version. */
  versions: Record<number, number>;
  /** Flights left to send. */
  remaining: number;
  done: boolean;
}

interface Flights {
  date: Float64Array;
  delay: Float64Array;
  distance: Float64Array;
  origin: string[];
  destination: string[];
}

const HOUR_MS = 3_600_000;

/** The flights parquet shipped by vega-datasets (its "exports" hide data/, so it is found beside the entry). */
export function flightsParquetFile(): string {
  return join(dirname(require.resolve('vega-datasets')), '..', 'data', 'flights-3m.parquet');
}

/** Every `sampleEvery`th flight departing in [from, to), in file (departure) order, column by column. */
export async function loadFlights(from: number, to: number, sampleEvery: number): Promise<Flights> {
  const bytes = readFileSync(flightsParquetFile());
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const metadata = parquetMetadata(file);
  const columns: Record<string, unknown[]> = {};
  await parquetRead({
    file,
    metadata,
    compressors,
    columns: ['date', 'delay', 'distance', 'origin', 'destination'],
    parsers: { timestampFromMicroseconds: (micros: bigint) => Number(micros) / 1000 },
    onChunk: ({ columnName, columnData, rowStart }) => {
      const target = (columns[columnName] ??= []);
      for (let i = 0; i < columnData.length; i++) target[rowStart + i] = columnData[i];
    },
  });
  const keep: number[] = [];
  let seen = 0;
  const dates = columns.date as number[];
  for (let r = 0; r < dates.length; r++) {
    if (dates[r] >= from && dates[r] < to && columns.delay[r] !== null && seen++ % sampleEvery === 0) keep.push(r);
  }
  const pick = (name: string) => Float64Array.from(keep, (r) => Number(columns[name][r]));
  const pickText = (name: string) => keep.map((r) => String(columns[name][r]));
  return {
    date: pick('date'),
    delay: pick('delay'),
    distance: pick('distance'),
    origin: pickText('origin'),
    destination: pickText('destination'),
  };
}

/** What serving receives: the raw columns; serving derives hour, day of week, month itself. */
const instanceOf = (f: Flights, i: number) => ({
  date: new Date(f.date[i]).toISOString().slice(0, 19),
  distance: f.distance[i],
  origin: f.origin[i],
  destination: f.destination[i],
});

/**
 * Replays flights against serving until done or aborted; resolves with the final progress.
 *
 * @example
 * await replayFlights({ servingUrl: 'http://127.0.0.1:8080', model: 'flights-delay', from: '2001-02-01', to: '2001-07-01' });
 */
export async function replayFlights(opts: ReplayOptions): Promise<ReplayProgress> {
  const rate = opts.rate ?? 200;
  const concurrency = opts.concurrency ?? 16;
  const labelDelay = (opts.labelDelayHours ?? 24) * HOUR_MS;
  const flights = await loadFlights(Date.parse(`${opts.from}Z`), Date.parse(`${opts.to}Z`), opts.sampleEvery ?? 20);
  const n = flights.date.length;
  const base = opts.servingUrl.replace(/\/$/, '');
  const predictUrl = `${base}/v1/models/${encodeURIComponent(opts.model)}/predict`;
  const feedbackUrl = `${base}/v1/models/${encodeURIComponent(opts.model)}/feedback`;
  const progress: ReplayProgress = {
    simTime: n ? flights.date[0] : 0,
    sent: 0,
    failed: 0,
    labelsSent: 0,
    versions: {},
    remaining: n,
    done: false,
  };
  // Labels wait here until the simulated clock passes their due time; flights are in order, so this is a FIFO.
  const pendingLabels: { id: string; label: number; due: number }[] = [];
  let inFlight = 0;
  let wake: (() => void) | undefined;
  const settle = () => {
    inFlight--;
    wake?.();
  };

  const postLabels = async (force: boolean) => {
    const batch: { id: string; label: number }[] = [];
    while (pendingLabels.length && (force || pendingLabels[0].due <= progress.simTime) && batch.length < 500) {
      const { id, label } = pendingLabels.shift()!;
      batch.push({ id, label });
    }
    if (!batch.length) return;
    const res = await fetch(feedbackUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ labels: batch }),
    }).catch(() => undefined);
    if (res?.ok) progress.labelsSent += batch.length;
    await res?.body?.cancel();
  };

  const send = async (i: number) => {
    const id = `replay-${flights.date[i]}-${i}`;
    try {
      const res = await fetch(predictUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': id },
        // No per-request signal: fetch keeps an abort listener per call until GC. Requests are short; the send loop
        // stops on abort and waits for the ones in flight.
        body: JSON.stringify({ instances: [instanceOf(flights, i)] }),
      });
      if (!res.ok) {
        progress.failed++;
        await res.body?.cancel();
        return;
      }
      const body = (await res.json()) as { version?: number; id?: string };
      if (typeof body.version === 'number')
        progress.versions[body.version] = (progress.versions[body.version] ?? 0) + 1;
      pendingLabels.push({
        id: body.id ?? id,
        label: flights.delay[i] > 15 ? 1 : 0,
        due: flights.date[i] + labelDelay,
      });
    } catch {
      if (!opts.signal?.aborted) progress.failed++;
    } finally {
      settle();
    }
  };

  const interval = 1000 / rate;
  const start = performance.now();
  let lastReport = 0;
  let labelFlush: Promise<void> = Promise.resolve();
  for (let i = 0; i < n && !opts.signal?.aborted; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    while (inFlight >= concurrency) await new Promise<void>((resolve) => (wake = resolve));
    inFlight++;
    progress.simTime = flights.date[i];
    progress.sent++;
    progress.remaining = n - i - 1;
    void send(i);
    if (i % 100 === 0) labelFlush = labelFlush.then(() => postLabels(false));
    if (performance.now() - lastReport > 1000) {
      lastReport = performance.now();
      opts.onProgress?.({ ...progress, versions: { ...progress.versions } });
    }
  }
  while (inFlight > 0) await new Promise<void>((resolve) => (wake = resolve));
  await labelFlush;
  if (!opts.signal?.aborted) while (pendingLabels.length) await postLabels(true);
  progress.done = true;
  opts.onProgress?.({ ...progress, versions: { ...progress.versions } });
  return progress;
}
