import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, Connection } from '@temporalio/client';
import { readDatasetTable, type DatasetRef } from '../activities/data/dataset-ref';
import type { DeployOutputs } from '../activities/steps/deploy';
import { cellValue, getColumn } from '../ml/table';
import { startServing, type ServingInstance, type ServingLogger } from '../serving';
import { createModelRegistry, type ModelRegistry } from '../storage/registry';
import { liveInstances, readTraffic } from '../storage/serving-state';
import type { MonitorStatus } from '../workflows/monitor-types';
import type { PipelineResult, RunStatus } from '../workflows/types';
import { testClient, testS3, uniqueId } from './helpers';

// The deploy step through real pipeline runs: the worker process of the test stack runs it against two real serving
// instances started here, all on the stack's MinIO. The models are real: gradient-boosted trees on the flights data,
// one predicting `delayed` (good) and one predicting its opposite `onTime` (a much worse candidate for `delayed`).
const MODEL = uniqueId('deploy-flights');
const FEATURES = ['distance', 'origin', 'destination', 'hour', 'dayOfWeek'];

let client: Client;
let connection: Connection;
let registry: ModelRegistry;
const { client: s3, store, bucket } = testS3();
const serving: ServingInstance[] = [];
let trained: PipelineResult;
let good: number;
let bad: number;
let smoke: { uri: string; sha256: string };

const quiet: ServingLogger = { info: () => {}, warn: () => {}, error: (m, f) => console.error(m, f) };

const gbdt = (label: string) => ({
  uses: 'train.gbdt',
  needs: ['ingest'],
  with: {
    name: MODEL,
    train: '${{ steps.ingest.outputs.train }}',
    label,
    features: FEATURES,
    derive: '${{ steps.ingest.outputs.derive }}',
    params: { objective: 'binary', numTrees: 15, numLeaves: 15, learningRate: 0.2, seed: 7 },
  },
});

const deployRollback = {
  uses: 'deploy.rollback',
  with: { name: MODEL, restore: '${{ steps.deploy.outputs.previous }}' },
};

/** Trains both models, registers them, makes the bad one production, then deploys the good one (direct). */
const trainAndDeploy = {
  name: 'deploy-test',
  steps: {
    ingest: {
      uses: 'ingest',
      with: {
        source: 'npm://vega-datasets/data/flights-3m.parquet',
        columns: {
          date: 'timestamp',
          delay: 'number',
          distance: 'number',
          origin: 'category',
          destination: 'category',
        },
        filter: { column: 'date', from: '2001-01-01', to: '2001-01-11' },
        derive: { delayed: 'delay > 15', onTime: 'delay <= 15', hour: 'hour(date)', dayOfWeek: 'dayOfWeek(date)' },
        split: { by: 'time', column: 'date', validFrom: '2001-01-09' },
        sample: 20_000,
      },
    },
    train: gbdt('delayed'),
    trainOnTime: gbdt('onTime'),
    evaluate: {
      uses: 'evaluate',
      needs: ['train', 'ingest'],
      with: {
        model: '${{ steps.train.outputs.model }}',
        dataset: '${{ steps.ingest.outputs.valid }}',
        label: 'delayed',
      },
    },
    register: {
      uses: 'model.register',
      needs: ['evaluate', 'train'],
      with: { name: MODEL, model: '${{ steps.train.outputs.model }}', card: '${{ steps.train.outputs.card }}' },
    },
    registerOnTime: {
      uses: 'model.register',
      needs: ['trainOnTime'],
      with: {
        name: MODEL,
        model: '${{ steps.trainOnTime.outputs.model }}',
        card: '${{ steps.trainOnTime.outputs.card }}',
      },
    },
    baseline: {
      uses: 'model.promote',
      needs: ['registerOnTime'],
      with: { name: MODEL, version: '${{ steps.registerOnTime.outputs.version }}', alias: 'production' },
    },
    deploy: {
      uses: 'deploy',
      needs: ['register', 'evaluate', 'baseline'],
      with: {
        name: MODEL,
        version: '${{ steps.register.outputs.version }}',
        strategy: 'direct',
        smoke: '${{ steps.evaluate.outputs.smoke }}',
        waitTimeout: '30s',
      },
      rollback: deployRollback,
    },
  },
};

async function run(definition: unknown) {
  const handle = await client.workflow.start('pipeline', {
    taskQueue: 'mlpipe',
    workflowId: uniqueId('deploy'),
    args: [{ definition }],
  });
  const outcome = await handle.result().then(
    (result: PipelineResult) => ({ ok: true, result, error: undefined }),
    (error: unknown) => ({ ok: false, result: undefined, error }),
  );
  return { runId: handle.workflowId, ...outcome, status: await handle.query<RunStatus>('status') };
}

/** A pipeline of one deploy step (plus `after`, steps that run once it succeeded). */
const deployOnly = (withInput: Record<string, unknown>, after: Record<string, unknown> = {}) => ({
  name: 'deploy-only',
  steps: {
    deploy: { uses: 'deploy', with: { name: MODEL, waitTimeout: '30s', ...withInput }, rollback: deployRollback },
    ...after,
  },
});

function rootCause(err: unknown): { type?: string; message: string } {
  let e = err as { cause?: unknown; type?: string; message: string };
  while (e.cause) e = e.cause as typeof e;
  return e;
}

/** Which version each of our instances reports as production for MODEL, by instance id. */
async function reported(): Promise<Record<string, number | null>> {
  const ours = new Set(serving.map((s) => s.instanceId));
  const reports = (await liveInstances(store)).filter((r) => ours.has(r.instanceId));
  return Object.fromEntries(reports.map((r) => [r.instanceId, r.models[MODEL]?.production?.version ?? null]));
}

const everyInstance = (version: number) => Object.fromEntries(serving.map((s) => [s.instanceId, version]));

/** The version that answers an unpinned OIP v2 request on an instance. */
async function answeringVersion(instance: ServingInstance): Promise<number> {
  const res = await fetch(`${instance.url}/v2/models/${MODEL}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      inputs: [
        { name: 'distance', datatype: 'FP32', shape: [1], data: [1200] },
        { name: 'origin', datatype: 'BYTES', shape: [1], data: ['SFO'] },
        { name: 'destination', datatype: 'BYTES', shape: [1], data: ['LAX'] },
        { name: 'hour', datatype: 'FP32', shape: [1], data: [8] },
        { name: 'dayOfWeek', datatype: 'FP32', shape: [1], data: [3] },
      ],
    }),
  });
  expect(res.status).toBe(200);
  return Number(((await res.json()) as { model_version: string }).model_version);
}

beforeAll(async () => {
  ({ client, connection } = await testClient());
  registry = createModelRegistry({ client: s3, bucket, store });
  for (let i = 0; i < 2; i++) {
    serving.push(
      await startServing({
        store,
        registry,
        port: 0,
        models: [MODEL],
        instanceId: uniqueId(`serve-${i}`),
        pollMs: 300,
        reportMs: 1000,
        logFlushMs: 1000,
        logger: quiet,
      }),
    );
  }
  const { result, error } = await run(trainAndDeploy);
  expect(error).toBeUndefined();
  trained = result!;
  good = (trained.steps.register.outputs as { version: number }).version;
  bad = (trained.steps.registerOnTime.outputs as { version: number }).version;
  smoke = (trained.steps.evaluate.outputs as { smoke: { uri: string; sha256: string } }).smoke;
}, 300_000);

afterAll(async () => {
  await Promise.all(serving.map((s) => s.close()));
  await connection?.close();
});

describe('deploy (direct) in a real pipeline run', () => {
  it('moves production, every instance serves the new version and passes the smoke test', async () => {
    const out = trained.steps.deploy.outputs as DeployOutputs;
    expect(out).toMatchObject({ name: MODEL, version: good, previous: bad, strategy: 'direct' });
    expect(out.instances.sort()).toEqual(serving.map((s) => s.instanceId).sort());
    expect(out.smoke.rows).toBe(100);
    expect(out.smoke.maxAbsDiff).toBeLessThanOrEqual(1e-6);

    expect((await registry.getAlias(MODEL, 'production'))?.version).toBe(good);
    expect(await reported()).toEqual(everyInstance(good));
    for (const instance of serving) expect(await answeringVersion(instance)).toBe(good);

    const history = await registry.aliasHistory(MODEL, { alias: 'production' });
    expect(history.at(-1)).toMatchObject({ from: bad, to: good, runId: trained.runId, reason: 'deploy (direct)' });
  });

  it('promoting the version already in production changes nothing', async () => {
    const before = await registry.aliasHistory(MODEL, { alias: 'production' });
    const { ok, result } = await run(deployOnly({ version: good, smoke }));
    expect(ok).toBe(true);
    expect(result!.steps.deploy.outputs).toMatchObject({ version: good, previous: good });
    expect(await registry.aliasHistory(MODEL, { alias: 'production' })).toEqual(before);
  });
});

describe('deploy with a monitor block', () => {
  it('starts the model monitor monitor:<name> and tells it which version was deployed by which run', async () => {
    const { ok, result, runId } = await run(deployOnly({ version: good, smoke, monitor: { intervalSeconds: 3600 } }));
    expect(ok).toBe(true);
    const workflowId = `monitor:${MODEL}`;
    expect(result!.steps.deploy.outputs).toMatchObject({ monitor: { workflowId } });
    const monitor = client.workflow.getHandle(workflowId);
    try {
      const status = await monitor.query<MonitorStatus>('status');
      expect(status.config).toMatchObject({ model: MODEL, intervalSeconds: 3600 });
      expect(status.deployment).toMatchObject({ version: good, previousVersion: good, runId });
    } finally {
      await monitor.terminate('test done');
    }
  });
});

describe('deploy failures put serving back', () => {
  it('a version whose scores differ from the evaluated ones fails the smoke test and is rolled back', async () => {
    // The `onTime` model with the `delayed` model's smoke sample: not the ONNX file that was evaluated.
    const { ok, error, runId } = await run(deployOnly({ version: bad, smoke }));
    expect(ok).toBe(false);
    const cause = rootCause(error);
    expect(cause.type).toBe('DeploySmokeFailed');
    expect(cause.message).toMatch(
      new RegExp(
        `instance \\S+ \\(http://127\\.0\\.0\\.1:\\d+\\): "${MODEL}" v${bad} scored smoke row \\d+ .*evaluation gave`,
      ),
    );
    expect(cause.message).toMatch(new RegExp(`production restored to v${good}, serving reports it on 2 instance`));

    expect((await registry.getAlias(MODEL, 'production'))?.version).toBe(good);
    expect(await reported()).toEqual(everyInstance(good));
    for (const instance of serving) expect(await answeringVersion(instance)).toBe(good);
    const history = (await registry.aliasHistory(MODEL, { alias: 'production' })).slice(-2);
    expect(history).toMatchObject([
      { from: good, to: bad, runId },
      { from: bad, to: good, runId, reason: 'deploy: restore after a failed check' },
    ]);
  });

  it('a canary that predicts much worse than production on labelled traffic fails and leaves production', async () => {
    const valid = (trained.steps.ingest.outputs as { valid: DatasetRef }).valid;
    const load = sendLoad(await readDatasetTable(store, valid));
    try {
      const { ok, error } = await run(
        deployOnly({
          version: bad,
          strategy: 'canary',
          canary: { share: 0.5, soak: '4s', minRequests: 20, minLabels: 20, maxLatencyRatio: 20 },
        }),
      );
      expect(ok).toBe(false);
      const cause = rootCause(error);
      expect(cause.type).toBe('CanaryFailed');
      expect(cause.message).toMatch(
        /canary of .* failed on quality: canary auc 0\.\d+ on \d+ labelled vs production 0\.\d+ on \d+ \(drop 0\.\d+, max 0\.02\)/,
      );
      expect(cause.message).toContain(`production stays v${good}`);
    } finally {
      await load.stop();
    }
    expect(load.errors).toEqual([]);
    expect(load.sent).toBeGreaterThan(40);
    expect((await registry.getAlias(MODEL, 'production'))?.version).toBe(good);
    expect(await registry.getAlias(MODEL, 'candidate')).toBeUndefined();
    expect(await readTraffic(store, MODEL)).toMatchObject({ mode: 'none', candidateVersion: null });
    const ours = new Set(serving.map((s) => s.instanceId));
    for (const r of (await liveInstances(store)).filter((x) => ours.has(x.instanceId))) {
      expect(r.models[MODEL]).toMatchObject({ production: { version: good }, candidate: null });
    }
  });

  it("a later step's failure rolls the deploy back to the previous production", async () => {
    const { ok, error, status, runId } = await run(
      deployOnly(
        { version: bad },
        { after: { uses: 'fail', needs: ['deploy'], with: { message: 'later step broke', nonRetryable: true } } },
      ),
    );
    expect(ok).toBe(false);
    expect(rootCause(error).message).toContain('later step broke');
    expect(status.steps.deploy).toMatchObject({ state: 'rolledBack', rollback: { state: 'succeeded' } });
    expect((await registry.getAlias(MODEL, 'production'))?.version).toBe(good);
    expect(await reported()).toEqual(everyInstance(good));
    const history = (await registry.aliasHistory(MODEL, { alias: 'production' })).slice(-2);
    expect(history).toMatchObject([
      { from: good, to: bad, runId },
      { from: bad, to: good, runId, reason: 'rollback' },
    ]);
  });
});

describe('deploy waits for serving, and a trial that passes is promoted', () => {
  it('a version no instance can load times out, naming each instance and its load error', async () => {
    // Bytes that hash right but are no ONNX model: the registry takes them, serving refuses to load them.
    const junk = await store.put(`test-deploy/${uniqueId('junk')}.onnx`, Buffer.from('not an onnx model'));
    const { version } = await registry.registerVersion({
      name: MODEL,
      runId: uniqueId('junk'),
      stepId: 'register',
      onnx: { uri: junk.uri, sha256: junk.sha256 },
      card: {},
    });
    const { ok, error } = await run(deployOnly({ version, waitTimeout: '3s' }));
    expect(ok).toBe(false);
    const cause = rootCause(error);
    expect(cause.type).toBe('DeployTimedOut');
    expect(cause.message).toMatch(
      new RegExp(`2 of 2 serving instance\\(s\\) did not switch to production v${version} within 3s: serve-0\\S+ `),
    );
    expect(cause.message).toMatch(new RegExp(`serves production v${good}, last load error: v${version}: `));
    expect(cause.message).toContain(`production restored to v${good}`);
    expect((await registry.getAlias(MODEL, 'production'))?.version).toBe(good);
    expect(await reported()).toEqual(everyInstance(good));
  });

  it('a shadow that agrees with production on live traffic is promoted, and traffic goes back to none', async () => {
    // The evaluated file registered again: a new version that must agree with production on every request.
    const { onnx, card } = await registry.getVersion(MODEL, good);
    const copy = (
      await registry.registerVersion({ name: MODEL, runId: uniqueId('copy'), stepId: 'register', onnx, card })
    ).version;
    const valid = (trained.steps.ingest.outputs as { valid: DatasetRef }).valid;
    const load = sendLoad(await readDatasetTable(store, valid));
    let outcome: Awaited<ReturnType<typeof run>>;
    try {
      outcome = await run(
        deployOnly({ version: copy, smoke, strategy: 'shadow', shadow: { soak: '3s', minCompared: 20 } }),
      );
    } finally {
      await load.stop();
    }
    expect(outcome.error).toBeUndefined();
    const out = outcome.result!.steps.deploy.outputs as DeployOutputs;
    expect(out).toMatchObject({
      version: copy,
      previous: good,
      strategy: 'shadow',
      smoke: { rows: 100 },
    });
    // Serving's single-threaded session may sum the trees in another order than evaluation's: float32 rounding.
    expect(out.smoke.maxAbsDiff).toBeLessThanOrEqual(1e-6);
    expect(out.shadow!.agreement).toBe(1);
    expect(out.shadow!.checks.every((c) => c.passed)).toBe(true);
    expect(out.shadow!.candidate.requests).toBeGreaterThanOrEqual(20);
    expect((await registry.getAlias(MODEL, 'production'))?.version).toBe(copy);
    expect(await readTraffic(store, MODEL)).toMatchObject({ mode: 'none', candidateVersion: null });
    expect(await reported()).toEqual(everyInstance(copy));
  });
});

/**
 * Sends one-row `/v1` predictions of holdout rows to the instances in turn and posts each row's true `delayed` as
 * feedback, until stopped.
 */
function sendLoad(table: Awaited<ReturnType<typeof readDatasetTable>>) {
  const columns = ['date', 'distance', 'origin', 'destination'].map((n) => getColumn(table, n));
  const delayed = getColumn(table, 'delayed');
  const state = { sent: 0, errors: [] as string[], stopped: false };
  const post = async (url: string, body: unknown, id: string) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': id },
      body: JSON.stringify(body),
    });
    if (res.status !== 200) state.errors.push(`${res.status} ${await res.text()}`);
  };
  const loop = (async () => {
    for (let i = 0; !state.stopped; i++) {
      const row = i % table.numRows;
      const label = cellValue(delayed, row);
      if (label === null) continue;
      const record = Object.fromEntries(columns.map((c) => [c.name, cellValue(c, row)]));
      const id = `load-${MODEL}-${i}`;
      const base = `${serving[i % serving.length].url}/v1/models/${MODEL}`;
      await post(`${base}/predict`, { instances: [record] }, id);
      await post(`${base}/feedback`, { labels: [{ id, label }] }, `${id}-fb`);
      state.sent++;
    }
  })();
  return {
    get sent() {
      return state.sent;
    },
    errors: state.errors,
    stop: async () => {
      state.stopped = true;
      await loop;
    },
  };
}
