import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBinaries } from '../cli/binaries';
import { getFreePort } from '../cli/ports';
import { startMinio } from '../cli/embedded-stack';
import type { ManagedProcess } from '../cli/processes';
import { loadFlights } from '../ml/fixtures/flights';
import { trainGbdtSync } from '../ml/gbdt';
import { exportGbdtToOnnx } from '../ml/onnx-export';
import { positiveProbabilities, scoreOnnx } from '../ml/onnx-scoring';
import { sliceRows, type Table } from '../ml/table';
import { smokeTest, startServing, type ServingInstance, type ServingLogger } from '../serving';
import { S3ArtifactStore, type ArtifactStore } from '../storage/artifact-store';
import { readLog } from '../storage/prediction-log';
import { createModelRegistry, type ModelRegistry } from '../storage/registry';
import { createS3Client } from '../storage/s3-client';
import { liveInstances, writeTraffic } from '../storage/serving-state';
import { testS3, uniqueId } from './helpers';
import { waitFor } from './wait';

const until = <T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
) => waitFor(what, probe, { timeoutMs, intervalMs: 50 });

// Real flights (vega-datasets flights-20k), a real GBDT exported to ONNX, registered in the real registry on the
// shared stack's MinIO, served by real onnxruntime sessions over real HTTP.

const FEATURES = ['distance', 'origin', 'destination', 'hour', 'dayOfWeek'];
/** As the flights-delay pipeline's ingest step derives them; `delayed` is the label, which requests lack. */
const DERIVE = { delayed: 'delay > 15', hour: 'hour(date)', dayOfWeek: 'dayOfWeek(date)' };

const flights = loadFlights('flights-20k.json');
const train = sliceRows(flights, 0, 5000);
const holdout = sliceRows(flights, 15_000, 15_040);

/** A flights model with `trees` trees, as train.gbdt exports it (ONNX with its model card). */
function trainModel(name: string, trees: number): Buffer {
  const model = trainGbdtSync(train, {
    objective: 'binary',
    label: 'delayed',
    features: FEATURES,
    numTrees: trees,
    numLeaves: 15,
    seed: 7,
    threads: 1,
  });
  const card = {
    name,
    kind: 'gbdt',
    objective: 'binary',
    label: 'delayed',
    classes: model.classes,
    features: model.features,
    derive: DERIVE,
  };
  return Buffer.from(exportGbdtToOnnx(model, { modelCard: card }));
}

/** Registers ONNX bytes as the next version; the card is the one embedded in the file. */
async function register(registry: ModelRegistry, store: ArtifactStore, name: string, onnx: Buffer, tag: string) {
  const put = await store.put(`test-serving/${name}/${tag}.onnx`, onnx);
  const { version } = await registry.registerVersion({
    name,
    runId: `run-${name}`,
    stepId: tag,
    onnx: { uri: put.uri, sha256: put.sha256, size: put.size },
    card: { features: FEATURES, derive: DERIVE },
  });
  return { version, key: `test-serving/${name}/${tag}.onnx` };
}

/** The raw records a client sends: the departure time as text, as in the example. */
function records(table: Table): Record<string, unknown>[] {
  const col = (n: string) => table.columns.find((c) => c.name === n)!;
  const time = col('time');
  const out: Record<string, unknown>[] = [];
  for (let r = 0; r < table.numRows; r++) {
    const value = (n: string) => {
      const c = col(n);
      return c.kind === 'numeric' ? c.values[r] : c.codes[r] < 0 ? null : c.dictionary[c.codes[r]];
    };
    out.push({
      date: new Date(time.kind === 'numeric' ? time.values[r] : 0).toISOString().slice(0, 19),
      distance: value('distance'),
      origin: value('origin'),
      destination: value('destination'),
    });
  }
  return out;
}

interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

/** Keeps log lines for assertions instead of printing them. */
function memoryLogger(): ServingLogger & { lines: string[] } {
  const lines: string[] = [];
  const write = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    void lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`);
  return { lines, info: write('info'), warn: write('warn'), error: write('error') };
}

describe('serving on the shared stack', () => {
  const { client, store, bucket } = testS3();
  const registry = createModelRegistry({ client, bucket, store });
  const name = uniqueId('serve');
  const onnx1 = trainModel(name, 5);
  const onnx2 = trainModel(name, 12);
  let v1: number;
  let v2: number;
  let serving: ServingInstance;
  const logger = memoryLogger();
  const predict = (body: unknown, headers?: Record<string, string>) =>
    post(`${serving.url}/v1/models/${name}/predict`, body, headers);

  beforeAll(async () => {
    v1 = (await register(registry, store, name, onnx1, 'v1')).version;
    v2 = (await register(registry, store, name, onnx2, 'v2')).version;
    await registry.setAlias(name, 'production', v1);
    serving = await startServing({
      store,
      registry,
      port: 0,
      models: [name],
      pollMs: 100,
      reportMs: 200,
      logFlushMs: 200,
      maxRows: 100,
      maxBodyBytes: 64 * 1024,
      logger,
    });
  });
  afterAll(async () => serving?.close());

  it('answers /v1 predict on raw records exactly as onnxruntime scores the features ingest derives', async () => {
    expect(serving.ready).toBe(true);
    const live = await fetch(`${serving.url}/v2/health/live`);
    expect(live.status).toBe(200);
    expect((await fetch(`${serving.url}/v2/health/ready`)).status).toBe(200);

    const expected = positiveProbabilities(await scoreOnnx(onnx1, holdout));
    const res = await predict({ instances: records(holdout) }, { 'x-request-id': 'batch-1' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('batch-1');
    expect(res.body).toMatchObject({ model: name, version: v1, id: 'batch-1' });
    expect(res.body.predictions).toHaveLength(holdout.numRows);
    res.body.predictions.forEach((p: { probability: number; label: string; probabilities: number[] }, i: number) => {
      expect(Math.abs(p.probability - expected[i])).toBeLessThan(1e-6);
      expect(p.label).toBe(expected[i] > 0.5 ? '1' : '0'); // the card's class names
      expect(p.probabilities[0] + p.probabilities[1]).toBeCloseTo(1, 5);
    });
    // Single-row requests give the same numbers, and a generated id when none is sent.
    const one = await predict({ instances: records(sliceRows(holdout, 3, 4)) });
    expect(Math.abs(one.body.predictions[0].probability - expected[3])).toBeLessThan(1e-6);
    expect(one.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(one.headers.get('x-request-id')).toBe(one.body.id);
  });

  it('speaks the Open Inference Protocol v2: metadata and tensor infer', async () => {
    const meta = (await (await fetch(`${serving.url}/v2/models/${name}`)).json()) as any;
    expect(meta).toMatchObject({ name, versions: [String(v1)], platform: 'onnxruntime' });
    expect(meta.inputs).toEqual([
      { name: 'distance', datatype: 'FP32', shape: [-1, 1] },
      { name: 'origin', datatype: 'BYTES', shape: [-1, 1] },
      { name: 'destination', datatype: 'BYTES', shape: [-1, 1] },
      { name: 'hour', datatype: 'FP32', shape: [-1, 1] },
      { name: 'dayOfWeek', datatype: 'FP32', shape: [-1, 1] },
    ]);
    expect(meta.outputs.map((o: { name: string }) => o.name)).toEqual(['label', 'probabilities']);

    const rows = sliceRows(holdout, 0, 4);
    const column = (n: string) => rows.columns.find((c) => c.name === n)!;
    const inputs = FEATURES.map((f) => {
      const c = column(f);
      return c.kind === 'numeric'
        ? { name: f, datatype: 'FP32', shape: [4, 1], data: Array.from(c.values) }
        : { name: f, datatype: 'BYTES', shape: [4], data: Array.from(c.codes, (k) => c.dictionary[k]) };
    });
    const res = await post(`${serving.url}/v2/models/${name}/infer`, { id: 'oip-1', inputs });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ model_name: name, model_version: String(v1), id: 'oip-1' });
    const probabilities = res.body.outputs.find((o: { name: string }) => o.name === 'probabilities');
    expect(probabilities.shape).toEqual([4, 2]);
    const expected = positiveProbabilities(await scoreOnnx(onnx1, rows));
    for (let i = 0; i < 4; i++) expect(Math.abs(probabilities.data[i * 2 + 1] - expected[i])).toBeLessThan(1e-6);

    const pinned = await post(`${serving.url}/v2/models/${name}/versions/${v1}/infer`, { inputs });
    expect(pinned.body.model_version).toBe(String(v1));
  });

  it('refuses every kind of bad request with the right 4xx naming the field, and keeps serving', async () => {
    const good = records(sliceRows(holdout, 0, 1))[0];
    const cases: [string, () => Promise<Answer>, number, string, string | undefined][] = [
      ['malformed JSON', () => predict('{"instances": [ {'), 400, 'invalid_json', undefined],
      [
        'wrong type',
        () => predict({ instances: [{ ...good, distance: 'far' }] }),
        400,
        'invalid_feature',
        'instances[0].distance',
      ],
      [
        'missing feature',
        () => predict({ instances: [{ ...good, origin: undefined }] }),
        400,
        'missing_feature',
        'instances[0].origin',
      ],
      [
        'unknown model',
        () => post(`${serving.url}/v1/models/nope/predict`, { instances: [good] }),
        404,
        'unknown_model',
        'model',
      ],
      [
        'body over the limit',
        () => predict({ instances: [good], pad: 'x'.repeat(70 * 1024) }),
        413,
        'payload_too_large',
        'body',
      ],
      [
        'wrong content type',
        () =>
          post(`${serving.url}/v1/models/${name}/predict`, JSON.stringify({ instances: [good] }), {
            'content-type': 'text/plain',
          }),
        415,
        'unsupported_media_type',
        'content-type',
      ],
      ['too many rows', () => predict({ instances: Array(101).fill(good) }), 413, 'too_many_rows', 'instances'],
      [
        'bad feedback',
        () => post(`${serving.url}/v1/models/${name}/feedback`, { labels: [{ id: 'x', label: { no: 1 } }] }),
        400,
        'invalid_feedback',
        'labels[0].label',
      ],
      [
        'bad tensor',
        () =>
          post(`${serving.url}/v2/models/${name}/infer`, {
            inputs: [{ name: 'distance', datatype: 'BYTES', shape: [1], data: ['x'] }],
          }),
        400,
        'invalid_feature',
        'inputs[0].datatype',
      ],
      [
        'unknown version',
        () => post(`${serving.url}/v2/models/${name}/versions/99/infer`, { inputs: [] }),
        404,
        'unknown_version',
        'version',
      ],
      [
        'bad request id',
        () => predict({ instances: [good] }, { 'x-request-id': 'no spaces please' }),
        400,
        'invalid_request_id',
        'x-request-id',
      ],
    ];
    for (const [what, send, status, code, field] of cases) {
      const res = await send();
      expect({ what, status: res.status, code: res.body.error?.code, field: res.body.error?.field }).toEqual({
        what,
        status,
        code,
        field,
      });
      expect(res.body.error.message.length, what).toBeGreaterThan(10);
    }
    // A body streamed without a length is cut off at the limit too, not buffered whole.
    const chunks = async function* () {
      yield new TextEncoder().encode('{"instances": [], "pad": "');
      for (let i = 0; i < 200; i++) yield new TextEncoder().encode('x'.repeat(1024));
      yield new TextEncoder().encode('"}');
    };
    const streamed = await fetch(`${serving.url}/v1/models/${name}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: ReadableStream.from(chunks()),
      duplex: 'half',
    } as RequestInit).then(
      (r) => r.status,
      () => 'connection closed',
    );
    expect([413, 'connection closed']).toContain(streamed);

    expect((await predict({ instances: [good] })).status).toBe(200);
    const metrics = await (await fetch(`${serving.url}/metrics`)).text();
    expect(metrics).toMatch(
      new RegExp(`mlpipe_serving_errors_total\\{model="${name}",version="",role="",code="415"\\} 1`),
    );
    expect(metrics).toMatch(/mlpipe_serving_errors_total\{model="",version="",role="",code="404"\} 1/);
  });

  it('logs every prediction and feedback label to the store, with version, role and request id', async () => {
    const from = Date.now();
    const rows = records(sliceRows(holdout, 0, 3));
    await predict({ instances: rows }, { 'x-request-id': `log-${name}` });
    await predict({ instances: [rows[0]] }, { 'x-request-id': `one-${name}` });
    const fb = await post(`${serving.url}/v1/models/${name}/feedback`, {
      labels: [
        { id: `log-${name}:1`, label: 1 },
        { id: `one-${name}`, label: 0 },
      ],
    });
    expect(fb.body).toMatchObject({ accepted: 2 });
    await serving.predictionLog.flush();
    await serving.feedbackLog.flush();
    const { records: logged } = await readLog(store, 'predictions', name, from, Date.now() + 1);
    const mine = logged.filter((r) => r.id.startsWith(`log-${name}`) || r.id === `one-${name}`);
    expect(mine.map((r) => r.id).sort()).toEqual([`log-${name}:0`, `log-${name}:1`, `log-${name}:2`, `one-${name}`]);
    for (const r of mine) expect(r).toMatchObject({ model: name, version: v1, role: 'production' });
    // Features as the model saw them (derived hour and weekday), plus the raw date they came from, as epoch ms:
    // monitoring reads each prediction's event time from it.
    expect(Object.keys(mine[0].features).sort()).toEqual([...FEATURES, 'date'].sort());
    const sent = mine.find((r) => r.id === `log-${name}:0`)!;
    expect(sent.features.date).toBe(Date.parse(`${rows[0].date as string}Z`));
    const { records: labels } = await readLog(store, 'feedback', name, from, Date.now() + 1);
    expect(labels.map((l) => [l.id, l.label])).toEqual([
      [`log-${name}:1`, 1],
      [`one-${name}`, 0],
    ]);
  });

  it('swaps v1 -> v2 under concurrent load without one failed request', async () => {
    const good = records(sliceRows(holdout, 0, 1));
    const seen: number[] = [];
    const failures: string[] = [];
    let stop = false;
    const loop = async () => {
      while (!stop) {
        try {
          const res = await predict({ instances: good });
          if (res.status !== 200) failures.push(`${res.status} ${JSON.stringify(res.body)}`);
          else seen.push(res.body.version);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    const loops = Array.from({ length: 8 }, loop);
    await until('some v1 answers under load', () => seen.length > 200);
    await registry.setAlias(name, 'production', v2);
    await until('v2 answering', () => seen.slice(-100).every((v) => v === v2) && seen.length > 400);
    stop = true;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    const first2 = seen.indexOf(v2);
    expect(first2).toBeGreaterThan(0);
    expect(seen.slice(0, first2).every((v) => v === v1)).toBe(true);
    expect(logger.lines.some((l) => l.includes('production version switched'))).toBe(true);
    const report = serving.report();
    expect(report.models[name].production).toMatchObject({ version: v2 });
    expect(report.stats[`${name}@${v1}`].requests).toBeGreaterThan(200);
    expect(report.stats[`${name}@${v2}`].errors).toBe(0);
  });

  it('shadow: the candidate scores every request, logged with role shadow, never returned', async () => {
    await registry.setAlias(name, 'candidate', v1);
    await writeTraffic(store, { model: name, mode: 'shadow', candidateVersion: v1, canaryShare: 0 });
    await until('the candidate loaded', async () => (await serving.poll(), serving.report().models[name].candidate));
    const from = Date.now();
    const rows = records(sliceRows(holdout, 5, 7));
    const res = await predict({ instances: rows }, { 'x-request-id': `shadow-${name}` });
    expect(res.body.version).toBe(v2);
    const shadowed = await until('the shadow records', async () => {
      await serving.predictionLog.flush();
      const { records: r } = await readLog(store, 'predictions', name, from, Date.now() + 1);
      const mine = r.filter((x) => x.id.startsWith(`shadow-${name}`));
      return mine.length === 4 ? mine : undefined;
    });
    const byRole = (role: string) => shadowed.filter((r) => r.role === role);
    expect(byRole('production').map((r) => r.version)).toEqual([v2, v2]);
    expect(byRole('shadow').map((r) => r.version)).toEqual([v1, v1]);
    const expected = positiveProbabilities(await scoreOnnx(onnx1, sliceRows(holdout, 5, 7)));
    byRole('shadow').forEach((r) =>
      expect(Math.abs(r.score - expected[Number(r.id.split(':')[1])])).toBeLessThan(1e-6),
    );

    // Version-pinned infer reaches both loaded versions: what deploy's smoke test calls.
    for (const v of [v1, v2]) expect((await smokeTest({ url: serving.url, model: name, version: v })).version).toBe(v);
  });

  it('canary: about canaryShare of the requests are answered by the candidate', async () => {
    await writeTraffic(store, { model: name, mode: 'canary', candidateVersion: v1, canaryShare: 0.3 });
    await until(
      'canary mode',
      async () => (await serving.poll(), serving.report().models[name].candidate?.mode === 'canary'),
    );
    const good = records(sliceRows(holdout, 0, 1));
    let canary = 0;
    const n = 400;
    for (let i = 0; i < n; i++) if ((await predict({ instances: good })).body.version === v1) canary++;
    expect(canary / n).toBeGreaterThan(0.2);
    expect(canary / n).toBeLessThan(0.4);
    await serving.writeReport();
    const me = (await liveInstances(store)).find((i) => i.instanceId === serving.instanceId);
    expect(me?.models[name].candidate).toMatchObject({ version: v1, mode: 'canary', share: 0.3 });
    await writeTraffic(store, { model: name, mode: 'none', candidateVersion: null, canaryShare: 0 });
    await serving.poll();
    expect(serving.report().models[name].candidate).toBeNull();
  });

  it('refuses a version whose bytes do not match the registered sha256 and keeps the previous one', async () => {
    const { version: v3, key } = await register(registry, store, name, trainModel(name, 3), 'v3');
    await store.put(key, onnx1); // the bytes behind v3 change after registration
    await registry.setAlias(name, 'production', v3);
    const reported = await until('the load error', async () => {
      await serving.poll();
      return serving.report().models[name].lastLoadError ?? undefined;
    });
    expect(reported).toMatch(/sha256/);
    expect(reported).toMatch(new RegExp(`v${v3}`));
    expect(serving.report().models[name].production?.version).toBe(v2);
    const res = await predict({ instances: records(sliceRows(holdout, 0, 1)) });
    expect(res.body.version).toBe(v2);
    expect(logger.lines.some((l) => l.startsWith('error model version refused'))).toBe(true);
    const metrics = await (await fetch(`${serving.url}/metrics`)).text();
    expect(metrics).toMatch(
      new RegExp(`mlpipe_serving_model_load_failures_total\\{model="${name}",version="${v3}"\\} 1`),
    );
    // Moving production back clears the error.
    await registry.setAlias(name, 'production', v2);
    await serving.poll();
    expect(serving.report().models[name].lastLoadError).toBeNull();
  });

  it('an instance that closes is no longer live', async () => {
    await serving.writeReport();
    expect((await liveInstances(store)).map((i) => i.instanceId)).toContain(serving.instanceId);
    await serving.close();
    expect((await liveInstances(store)).map((i) => i.instanceId)).not.toContain(serving.instanceId);
  });
});

describe('serving while its object store is down', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlpipe-serve-minio-'));
  const creds = { accessKey: 'serve-test', secretKey: 'serve-test-secret', region: 'us-east-1' };
  const bucket = 'serving';
  let minio: ManagedProcess | undefined;
  let port: number;
  let bin: string;
  let serving: ServingInstance | undefined;

  /** Starts (again, on the same port and data) this test's own MinIO. */
  const restartMinio = async () => {
    const started = await startMinio(bin, {
      port,
      consolePort: await getFreePort(),
      dataDir: path.join(dir, 'data'),
      ...creds,
      bucket,
      logFile: path.join(dir, 'minio.log'),
    });
    minio = started.proc;
  };

  beforeAll(async () => {
    bin = (await ensureBinaries({ devserver: false, minio: true })).minio!;
    port = await getFreePort();
    await restartMinio();
  });

  afterAll(async () => {
    await serving?.close();
    await minio?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps answering from the loaded model, buffers the prediction log, and delivers it when the store is back', async () => {
    const endpoint = `http://127.0.0.1:${port}`;
    const client = createS3Client({ endpoint, ...creds });
    const store = new S3ArtifactStore(client, bucket, endpoint);
    const registry = createModelRegistry({ client, bucket, store, endpoint });
    const name = 'flights-outage';
    const onnx = trainModel(name, 5);
    const { version } = await register(registry, store, name, onnx, 'v1');
    await registry.setAlias(name, 'production', version);
    const logger = memoryLogger();
    serving = await startServing({
      store,
      registry,
      port: 0,
      models: [name],
      pollMs: 100,
      reportMs: 200,
      logFlushMs: 100,
      logger,
    });
    const send = (id: string) =>
      post(
        `${serving!.url}/v1/models/${name}/predict`,
        { instances: records(sliceRows(holdout, 0, 1)) },
        { 'x-request-id': id },
      );
    expect((await send('before')).status).toBe(200);

    await minio!.stop();
    for (let i = 0; i < 20; i++) {
      const res = await send(`outage-${i}`);
      expect(res.status).toBe(200);
      expect(res.body.version).toBe(version);
    }
    await until('a failed flush', () => serving!.predictionLog.failedFlushes > 0);
    expect(serving.predictionLog.pending).toBeGreaterThanOrEqual(20);
    await until('the outage logged', () => logger.lines.some((l) => l.includes('object store unreachable')));
    expect(serving.ready).toBe(true);
    expect((await fetch(`${serving.url}/v2/health/ready`)).status).toBe(200);

    const from = Date.now() - 60_000;
    await restartMinio();
    await until('the buffered records written', () => serving!.predictionLog.pending === 0, 30_000);
    const { records: logged } = await readLog(store, 'predictions', name, from, Date.now() + 1);
    const ids = new Set(logged.map((r) => r.id));
    for (let i = 0; i < 20; i++) expect(ids.has(`outage-${i}`), `outage-${i}`).toBe(true);
    expect(serving.predictionLog.dropped).toBe(0);
  });
});
