import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ApplicationFailure } from '@temporalio/activity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arrowToTable, readArrowTable } from '../activities/data/arrow';
import { ingest, type IngestOutputs } from '../activities/steps/ingest';
import type { StepContext } from '../activities/steps/types';
import type { TableProfile } from '../ml/profile';
import { cellValue, getColumn, type Table } from '../ml/table';
import { type ArtifactStore } from '../storage/artifact-store';
import { getDataset } from '../storage/datasets';
import { ErrorTypes } from '../workflows/errors';
import { testS3, uniqueId } from './helpers';

// The ingest step called directly (no Temporal needed) on a store over the test stack's real MinIO.

const FLIGHTS = 'npm://vega-datasets/data/flights-3m.parquet';
const COLUMNS = { date: 'timestamp', delay: 'number', distance: 'number', origin: 'category', destination: 'category' };
const JANUARY = {
  source: FLIGHTS,
  columns: COLUMNS,
  filter: { column: 'date', from: '2001-01-01', to: '2001-02-01' },
  derive: { delayed: 'delay > 15', hour: 'hour(date)', dayOfWeek: 'dayOfWeek(date)', month: 'month(date)' },
  split: { by: 'time', column: 'date', validFrom: '2001-01-25' },
  label: 'delayed',
  expect: {
    minRows: 1000,
    notNull: ['distance', 'origin'],
    range: { distance: { min: 0, max: 6000 } },
    maxNullShare: { delay: 0.05 },
  },
};

/** The S3 store, counting writes per key: "stored once" is then something a test can see. */
class CountingStore {
  readonly puts = new Map<string, number>();
  constructor(readonly inner: ArtifactStore) {}
  store(): ArtifactStore {
    return {
      put: (key, body, opts) => {
        this.puts.set(key, (this.puts.get(key) ?? 0) + 1);
        return this.inner.put(key, body, opts);
      },
      putFile: (key, file, opts) => this.inner.putFile(key, file, opts),
      get: (key) => this.inner.get(key),
      tryGet: (key) => this.inner.tryGet(key),
      exists: (key) => this.inner.exists(key),
      list: (prefix, opts) => this.inner.list(prefix, opts),
      uri: (key) => this.inner.uri(key),
    };
  }
}

let counting: CountingStore;
let store: ArtifactStore;
let dir: string;
const beats: { phase: string; rows: number }[] = [];

function context(): StepContext {
  return {
    task: { runId: uniqueId('ingest'), pipeline: 'test', stepId: 'ingest', uses: 'ingest', with: {}, cache: false },
    attempt: 1,
    store,
    artifactPrefix: 'runs/test/ingest/attempt-1',
    signal: new AbortController().signal,
    heartbeat: (d) => beats.push(d as (typeof beats)[number]),
  };
}

const run = (input: Record<string, unknown>) => ingest(input, context()) as Promise<IngestOutputs>;

async function failure(input: Record<string, unknown>): Promise<ApplicationFailure> {
  const err = await run(input).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

const keyOf = (uri: string) => uri.slice(store.uri('').length);
const load = async (uri: string): Promise<Table> => arrowToTable(await store.get(keyOf(uri)));
const column = (table: Table, name: string) => {
  const c = getColumn(table, name);
  if (c.kind !== 'numeric') throw new Error(`${name} is categorical`);
  return c.values;
};

/** A file in the test's temporary folder, as a file:// URI. */
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return pathToFileURL(p).href;
}

beforeAll(() => {
  counting = new CountingStore(testS3().store);
  store = counting.store();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlpipe-ingest-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('ingest on the real flights parquet', () => {
  let first: IngestOutputs;

  it('reads January 2001, derives features, splits by time, profiles and stores content-addressed Arrow', async () => {
    first = await run(JANUARY);
    // January 2001 is the first two row groups of the time-ordered file: the other nine are skipped unread.
    expect(first.rowsRead).toBe(545_454);
    expect(first.dataset.rows).toBe(508_239);
    expect(first.train!.rows + first.valid!.rows).toBe(first.dataset.rows);
    expect(first.valid!.rows).toBe(114_670);
    expect(first.badRows).toBe(0);
    expect(first.label).toBe('delayed');
    expect(first.derive).toEqual(JANUARY.derive);
    expect(first.columns).toEqual([
      { name: 'date', type: 'timestamp' },
      { name: 'delay', type: 'number' },
      { name: 'distance', type: 'number' },
      { name: 'origin', type: 'category' },
      { name: 'destination', type: 'category' },
      { name: 'delayed', type: 'boolean' },
      { name: 'hour', type: 'number' },
      { name: 'dayOfWeek', type: 'number' },
      { name: 'month', type: 'number' },
    ]);
    for (const part of [first.dataset, first.train!, first.valid!]) {
      expect(part.uri).toBe(store.uri(`datasets/${part.sha256}.arrow`));
    }
    expect(first.profile.uri).toBe(store.uri(`datasets/${first.dataset.sha256}.profile.json`));
    expect(Buffer.byteLength(JSON.stringify(first))).toBeLessThan(16 * 1024);
    const phases = new Set(beats.map((b) => b.phase));
    expect([...phases]).toEqual(['read', 'derive', 'validate', 'profile', 'write']);
    expect(Math.max(...beats.filter((b) => b.phase === 'read').map((b) => b.rows))).toBe(545_454);
  });

  it('stores what it says: typed columns, derived values on known rows, a time split', async () => {
    const { table, types } = readArrowTable(await store.get(keyOf(first.dataset.uri)));
    expect(types).toMatchObject({ date: 'timestamp', delayed: 'boolean', origin: 'category' });
    // The file's first flight: 2001-01-01 00:01 UTC, Las Vegas to Philadelphia, 33 minutes late (a Monday).
    const row0 = Object.fromEntries(table.columns.map((c) => [c.name, cellValue(c, 0)]));
    expect(row0).toEqual({
      date: Date.UTC(2001, 0, 1, 0, 1),
      delay: 33,
      distance: 2176,
      origin: 'LAS',
      destination: 'PHL',
      delayed: 1,
      hour: 0,
      dayOfWeek: 1,
      month: 1,
    });
    const date = column(table, 'date');
    const delay = column(table, 'delay');
    const [delayed, hour, dayOfWeek] = ['delayed', 'hour', 'dayOfWeek'].map((n) => column(table, n));
    for (let r = 0; r < table.numRows; r += 997) {
      const d = new Date(date[r]);
      expect([hour[r], dayOfWeek[r], delayed[r]]).toEqual([d.getUTCHours(), d.getUTCDay(), delay[r] > 15 ? 1 : 0]);
      expect(date[r]).toBeGreaterThanOrEqual(Date.UTC(2001, 0, 1));
      expect(date[r]).toBeLessThan(Date.UTC(2001, 1, 1));
    }
    const valid = await load(first.valid!.uri);
    const validFrom = Date.UTC(2001, 0, 25);
    expect(column(valid, 'date').every((t) => t >= validFrom)).toBe(true);
    const train = await load(first.train!.uri);
    expect(column(train, 'date').every((t) => t < validFrom)).toBe(true);
  });

  it('writes a profile with quantiles, fixed-edge histograms and top categories', async () => {
    const profile = JSON.parse((await store.get(keyOf(first.profile.uri))).toString()) as TableProfile;
    expect(profile.rows).toBe(508_239);
    const by = Object.fromEntries(profile.columns.map((c) => [c.name, c]));
    expect(by.date).toMatchObject({ type: 'timestamp', nulls: 0, minIso: '2001-01-01T00:01:00.000Z' });
    expect(by.date.maxIso! < '2001-02-01').toBe(true);
    const distance = by.distance.numeric!;
    expect(distance.min).toBeGreaterThan(0);
    expect(distance.max).toBeLessThanOrEqual(6000);
    const q = distance.quantiles;
    expect(q.p1 <= q.p5 && q.p5 <= q.p25 && q.p25 <= q.p50 && q.p50 <= q.p75 && q.p75 <= q.p95).toBe(true);
    expect(distance.histogram.edges).toHaveLength(21);
    expect(distance.histogram.counts.reduce((s, c) => s + c, 0)).toBe(508_239);
    // About one flight in five leaves more than 15 minutes late.
    expect(by.delayed.numeric!.mean).toBeGreaterThan(0.1);
    expect(by.delayed.numeric!.mean).toBeLessThan(0.35);
    expect(by.hour.numeric).toMatchObject({ min: 0, max: 23 });
    const top = by.origin.categorical!.top.slice(0, 5).map((t) => t.value);
    expect(top).toContain('ORD');
    expect(top).toContain('ATL');
  });

  it('stores the same data once: a second ingest gives the same sha256 and writes nothing', async () => {
    const before = new Map(counting.puts);
    const second = await run(JANUARY);
    expect(second.dataset.sha256).toBe(first.dataset.sha256);
    expect(second.train!.sha256).toBe(first.train!.sha256);
    expect(second.valid!.sha256).toBe(first.valid!.sha256);
    expect(counting.puts).toEqual(before);
    // A dataset snapshot like any other (storage/datasets.ts): found by URI, bytes checked against the digest.
    const snapshot = await getDataset(store, first.dataset.uri);
    expect(snapshot).toMatchObject({ sha256: first.dataset.sha256, rows: 508_239, ext: 'arrow', source: FLIGHTS });
    const sha = first.dataset.sha256;
    for (const key of [`datasets/${sha}.arrow`, `datasets/${sha}.meta.json`, `datasets/${sha}.profile.json`]) {
      expect(counting.puts.get(key), key).toBe(1);
    }
  });

  it('fails an expectation on real data with counts and example rows', async () => {
    const err = await failure({
      ...JANUARY,
      filter: { column: 'date', from: '2001-01-01', to: '2001-01-02' },
      split: undefined,
      expect: { range: { distance: { min: 0, max: 2000 } } },
    });
    expect(err.type).toBe(ErrorTypes.DataValidationFailed);
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(
      /^npm:\/\/vega-datasets\/data\/flights-3m\.parquet: 1 expectation failed:\n- distance: \d+ values outside \[0, 2000\] \(rows \d+, \d+, \d+, \d+, \d+, \.\.\.: \d+, \d+, \d+, \d+, \d+, \.\.\.\)$/,
    );
  });
});

describe('ingest expectations and bad rows', () => {
  const header = 'date,delay,distance,origin\n';
  const rows = [
    '2001-01-01 10:00,5,100,ORD',
    '2001-01-01 11:00,,200,SFO',
    '2001-01-01 12:00,30,-5,',
    '2001-01-02 09:00,7,7000,XXX',
    '2001-01-02 10:00,,300,ORD',
    '2001-01-03 08:00,1,400,ORD',
  ];
  const columns = { date: 'timestamp', delay: 'number', distance: 'number', origin: 'category' };

  it('fails with every violated expectation, each with its count and examples', async () => {
    const source = file('flights.csv', header + rows.join('\n') + '\n');
    const err = await failure({
      source,
      columns,
      expect: {
        minRows: 10,
        maxRows: 3,
        notNull: ['origin'],
        range: { distance: { min: 0, max: 6000 } },
        allowed: { origin: ['ORD', 'SFO'] },
        maxNullShare: { delay: 0.2 },
      },
    });
    expect(err.type).toBe(ErrorTypes.DataValidationFailed);
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toBe(
      [
        `${source}: 6 expectations failed:`,
        '- rows: 6 rows, expected at least 10',
        '- rows: 6 rows, expected at most 3',
        '- origin: 1 missing value (row 2)',
        '- distance: 2 values outside [0, 6000] (rows 2, 3: -5, 7000)',
        "- origin: 1 value not in the allowed list (2 values) (row 3: 'XXX')",
        '- delay: 33.3% missing (2 of 6 rows), at most 20% allowed (rows 1, 4)',
      ].join('\n'),
    );
    expect(err.details?.[0]).toMatchObject({ violations: expect.any(Array) });
  });

  it('reports a malformed CSV line and a value of the wrong type with their line numbers', async () => {
    const broken = file('broken.csv', header + [rows[0], rows[1], '2001-01-01 12:00,30', ...rows.slice(3)].join('\n'));
    const err = await failure({ source: broken, columns });
    expect(err.type).toBe(ErrorTypes.DataValidationFailed);
    expect(err.message).toBe(
      `${broken}: line 4: Invalid Record Length: expect 4, got 2 (set onBadRows: skip to drop and count bad rows)`,
    );
    const badValue = file('bad-value.csv', header + [rows[0], '2001-01-01 11:00,soon,200,SFO', rows[2]].join('\n'));
    expect((await failure({ source: badValue, columns })).message).toBe(
      `${badValue}: line 3: delay: 'soon' is not a number (set onBadRows: skip to drop and count bad rows)`,
    );
  });

  it('with onBadRows: skip drops and counts bad rows', async () => {
    const lines = [
      rows[0],
      '2001-01-01 12:00,30',
      rows[1],
      'not a date,1,1,ORD',
      '2001-01-01,1,2,ORD,extra',
      ...rows.slice(3),
    ];
    const out = await run({ source: file('skip.csv', header + lines.join('\n')), columns, onBadRows: 'skip' });
    expect(out.badRows).toBe(3);
    expect(out.rowsRead).toBe(8);
    expect([...out.badRowExamples!].sort()).toEqual([
      'line 3: Invalid Record Length: expect 4, got 2',
      "line 5: date: 'not a date' is not a timestamp",
      'line 6: Invalid Record Length: expect 4, got 5',
    ]);
    expect(out.dataset.rows).toBe(5);
  });

  it('reads JSON, NDJSON, Arrow and s3:// sources, inferring types when none are declared', async () => {
    const records = [
      { date: '2001/01/14 21:55', delay: 20, distance: 100, origin: 'ORD', ok: true },
      { date: '2001/01/15 06:05', delay: null, distance: 2000, origin: 'SFO', ok: false },
    ];
    const json = await run({ source: file('f.json', JSON.stringify(records)), derive: { hour: 'hour(date)' } });
    expect(json.columns).toEqual([
      { name: 'date', type: 'timestamp' },
      { name: 'delay', type: 'number' },
      { name: 'distance', type: 'number' },
      { name: 'origin', type: 'category' },
      { name: 'ok', type: 'boolean' },
      { name: 'hour', type: 'number' },
    ]);
    const ndjson = file('f.ndjson', records.map((r) => JSON.stringify(r)).join('\n') + '\n\n');
    const fromNdjson = await run({ source: ndjson, derive: { hour: 'hour(date)' } });
    expect(fromNdjson.dataset.sha256).toBe(json.dataset.sha256);
    // Our own Arrow output read back (from s3://) is the same table, so the same bytes.
    const fromArrow = await run({ source: json.dataset.uri, format: 'arrow' });
    expect(fromArrow.dataset.sha256).toBe(json.dataset.sha256);
    const csvKey = `test/${uniqueId('ingest')}/f.csv`;
    await store.put(
      csvKey,
      'date,delay,distance,origin,ok\n2001/01/14 21:55,20,100,ORD,true\n2001/01/15 06:05,,2000,SFO,false\n',
    );
    const fromS3Csv = await run({ source: store.uri(csvKey), derive: { hour: 'hour(date)' } });
    expect(fromS3Csv.dataset.sha256).toBe(json.dataset.sha256);
    const badNdjson = file('bad.ndjson', `${JSON.stringify(records[0])}\n{"date": oops}\n`);
    expect((await failure({ source: badNdjson })).message).toMatch(/: line 2: invalid JSON/);
  });

  it('rejects inputs that do not fit as StepInputInvalid', async () => {
    const source = file('ok.csv', header + rows.join('\n'));
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ source, derive: { late: 'delay >' } }, /with\.derive\.late: unexpected end of expression at column 8/],
      [{ source, columns: { nope: 'number' } }, /has no column "nope" \(has: date, delay, distance, origin\)/],
      [{ source: 'http://x/y.csv' }, /with\.source: expected npm:/],
      [{ source: 'npm://vega-datasets/data/nope.parquet' }, /no file data\/nope\.parquet in package "vega-datasets"/],
      [{ source, filter: { column: 'origin', from: 1 } }, /"origin" is a category: filter it with in/],
      [{ source, label: 'delayed' }, /label "delayed" is not a column/],
      [{ source, split: { by: 'time', column: 'origin', validFrom: '2001-01-02' } }, /column "origin" is categorical/],
    ];
    for (const [input, message] of cases) {
      const err = await failure(input);
      expect(err.type, JSON.stringify(input)).toBe(ErrorTypes.StepInputInvalid);
      expect(err.nonRetryable).toBe(true);
      expect(err.message).toMatch(message);
    }
  });

  it('splits at random deterministically and samples', async () => {
    const lines = Array.from({ length: 100 }, (_, i) => `2001-01-01 10:00,${i},${i * 10},ORD`);
    const source = file('hundred.csv', header + lines.join('\n'));
    const a = await run({ source, split: { by: 'random', validFraction: 0.25, seed: 3 } });
    const b = await run({ source, split: { by: 'random', validFraction: 0.25, seed: 3 } });
    expect([a.train!.rows, a.valid!.rows]).toEqual([75, 25]);
    expect(b.valid!.sha256).toBe(a.valid!.sha256);
    const sampled = await run({ source, sample: 10, filter: { column: 'delay', from: 50 } });
    expect(sampled.dataset.rows).toBe(10);
    expect(Math.min(...column(await load(sampled.dataset.uri), 'delay'))).toBeGreaterThanOrEqual(50);
  });
});
