import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Client, Connection, WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, type Worker } from '@temporalio/worker';
import { createRng } from '../ml/random';
import type { Table } from '../ml/table';
import { createModelRegistry, type ModelRegistry } from '../storage/registry';
import { createWorkers } from '../workers/create-workers';
import { codeVersion } from '../workers/version';
import {
  checkNowSignal,
  deployedSignal,
  monitorStatusQuery,
  monitorWorkflowId,
  type MonitorConfigInput,
  type MonitorStatus,
} from '../workflows/monitor-types';
import type { PipelineResult } from '../workflows/types';
import { testClient, testS3, uniqueId } from './helpers';
import { createMonitorFixtures, trainFlightsModel, WEST_COAST, type MonitorFixtures } from './monitor-fixtures';
import { waitFor } from './wait';

// The monitor on the real stack: a real flights-delay model (trained once by the shipped pipeline), real flights rows
// scored by that ONNX file with onnxruntime, written to MinIO by the serving LogWriter, read back by the monitor
// (test/monitor-fixtures.ts).

let client: Client;
let connection: Connection;
let registry: ModelRegistry;
let store: ReturnType<typeof testS3>['store'];
let fx: MonitorFixtures;
let january: Table;
let june: Table;

// Our own workers, on queues nobody else serves: they know test/fixtures/pipelines, and we can restart them.
const queues = { workflows: uniqueId('monitor-q'), cpu: '', gpu: '' };
queues.cpu = `${queues.workflows}-cpu`;
queues.gpu = `${queues.workflows}-gpu`;
let nativeConnection: NativeConnection;
let workflowBundle: { code: string };
let workers: { worker: Worker; running: Promise<void> }[] = [];

async function startWorkers() {
  const created = await createWorkers({
    connection: nativeConnection,
    namespace: 'default',
    queues,
    roles: ['orchestrator', 'cpu'],
    workflowBundle,
    deps: {
      store,
      registry,
      pipelineDirs: [
        path.join(__dirname, 'fixtures', 'pipelines'),
        path.join(__dirname, '..', 'definitions', 'pipelines'),
      ],
      codeVersion,
    },
  });
  workers = created.map((worker) => ({ worker, running: worker.run() }));
}

async function stopWorkers() {
  for (const w of workers) w.worker.shutdown();
  await Promise.all(workers.map((w) => w.running));
  workers = [];
}

const baseConfig = (modelName: string): MonitorConfigInput => ({
  model: modelName,
  // Checks run on checkNow / deployed only, so the test decides when.
  intervalSeconds: 3600,
  windowSeconds: 600,
  minRows: 200,
  quality: { metric: 'auc', minLabels: 200 },
  queues: { cpu: queues.cpu },
});

async function startMonitor(config: MonitorConfigInput, version: number, previousVersion?: number) {
  // What the deploy step does.
  return client.workflow.signalWithStart('monitor', {
    taskQueue: queues.workflows,
    workflowId: monitorWorkflowId(config.model),
    args: [config],
    signal: deployedSignal,
    signalArgs: [{ version, previousVersion: previousVersion ?? null, runId: 'test-deploy' }],
  });
}

const status = (handle: WorkflowHandle) => handle.query(monitorStatusQuery) as Promise<MonitorStatus>;

/** Sends checkNow and waits until the monitor has done one more check. */
async function checkNow(handle: WorkflowHandle): Promise<MonitorStatus> {
  const before = (await status(handle)).checks;
  await handle.signal(checkNowSignal);
  return waitFor('a check', async () => {
    const s = await status(handle);
    return s.checks > before && s;
  });
}

beforeAll(async () => {
  ({ client, connection } = await testClient());
  const s3 = testS3();
  registry = createModelRegistry({ client: s3.client, bucket: s3.bucket });
  store = s3.store;
  nativeConnection = await NativeConnection.connect({ address: inject('stack').temporalAddress });
  const [trained, bundle] = await Promise.all([
    trainFlightsModel(client, registry, { taskQueue: 'mlpipe', workflowId: uniqueId('monitor-train') }),
    bundleWorkflowCode({ workflowsPath: path.join(__dirname, '..', 'workflows', 'index.ts') }),
  ]);
  workflowBundle = bundle;
  fx = await createMonitorFixtures({ store, registry, trained });
  [january, june] = await Promise.all([
    fx.flightsBetween('2001-01-01', '2001-01-11'),
    fx.flightsBetween('2001-06-01', '2001-07-01'),
  ]);
  await startWorkers();
}, 600_000);

afterAll(async () => {
  await stopWorkers();
  await fx?.release();
  await nativeConnection?.close();
  await connection?.close();
});

describe('monitor', () => {
  it(
    'sees no drift in data like the training data, and drift in a shifted population',
    { timeout: 180_000 },
    async () => {
      const same = uniqueId('mon-same');
      const shifted = uniqueId('mon-shift');
      await fx.registerCopies(same, 1);
      await fx.registerCopies(shifted, 1);
      const a = await fx.scoredRows(january, 1500, 1);
      await fx.writeLogs({
        modelName: same,
        version: 1,
        table: a.rows,
        scores: a.scores,
        start: Date.now() - 200_000,
        idPrefix: 'a',
      });
      // June flights out of West Coast airports: a population the January model never saw much of.
      const b = await fx.scoredRows(june, 1500, 2, (o) => WEST_COAST.has(o));
      await fx.writeLogs({
        modelName: shifted,
        version: 1,
        table: b.rows,
        scores: b.scores,
        start: Date.now() - 200_000,
        idPrefix: 'b',
      });

      const ok = await startMonitor(baseConfig(same), 1);
      const drift = await startMonitor(baseConfig(shifted), 1);
      const okStatus = await waitFor('the first check', async () => (await status(ok)).lastCheck && status(ok));
      const driftStatus = await waitFor(
        'the first check',
        async () => (await status(drift)).lastCheck && status(drift),
      );

      expect(okStatus.lastCheck).toMatchObject({
        rows: 1500,
        verdict: 'ok',
        driftedFeatures: [],
        predictionDrift: false,
      });
      expect(okStatus.lastCheck!.drift.map((r) => r.feature)).toEqual(
        expect.arrayContaining([...fx.trained.features, '(prediction)']),
      );
      expect(okStatus.alerts).toEqual([]);

      expect(driftStatus.lastCheck!.verdict).toBe('drift');
      expect(driftStatus.lastCheck!.driftedFeatures).toEqual(expect.arrayContaining(['distance', 'origin']));
      expect(driftStatus.alerts.map((a) => a.kind)).toEqual(['drift']);
      // No retrain configured: alert only.
      expect(driftStatus.retrains).toEqual([]);
      await ok.terminate('test done');
      await drift.terminate('test done');
    },
  );

  it('starts one retrain for a storm of breaches, with a deterministic id', { timeout: 180_000 }, async () => {
    const name = uniqueId('mon-retrain');
    await fx.registerCopies(name, 1);
    const b = await fx.scoredRows(june, 1000, 3, (o) => WEST_COAST.has(o));
    await fx.writeLogs({
      modelName: name,
      version: 1,
      table: b.rows,
      scores: b.scores,
      start: Date.now() - 150_000,
      idPrefix: 'r',
    });
    const config: MonitorConfigInput = {
      ...baseConfig(name),
      retrain: {
        pipeline: 'monitor-retrain',
        params: { note: 'drift' },
        cooldownSeconds: 3600,
        eventTime: { column: 'date', windowDays: 90, validDays: 14 },
      },
    };
    const handle = await startMonitor(config, 1);
    await waitFor('the first check', async () => (await status(handle)).checks >= 1);
    for (let i = 0; i < 4; i++) await checkNow(handle);

    const s = await status(handle);
    expect(s.checks).toBe(5);
    expect(s.lastCheck!.verdict).toBe('drift');
    expect(s.retrains).toHaveLength(1);
    const retrain = s.retrains[0];
    expect(retrain.workflowId).toBe(`retrain:${name}:${Math.floor(retrain.at / 3_600_000)}`);
    // The latest June date served is the 30th: retrain on the 90 days up to July 1st.
    expect(retrain.params).toEqual({ note: 'drift', from: '2001-04-02', to: '2001-07-01', validFrom: '2001-06-17' });
    // Exactly one pipeline run exists for the model's retrains, and it ran with that window.
    const runs: string[] = [];
    for await (const w of client.workflow.list({
      query: `WorkflowType = 'pipeline' AND WorkflowId STARTS_WITH 'retrain:${name}:'`,
    })) {
      runs.push(w.workflowId);
    }
    expect(runs).toEqual([retrain.workflowId]);
    const result = (await client.workflow.getHandle(retrain.workflowId).result()) as PipelineResult;
    expect(result.outputs.window).toMatchObject({ from: '2001-04-02', to: '2001-07-01', note: 'drift' });
    expect(s.alerts.filter((a) => a.kind === 'drift')).toHaveLength(1);
    expect(s.alerts.filter((a) => a.kind === 'retrain')).toHaveLength(1);
    await handle.terminate('test done');
  });

  it('rolls production back when the new version does worse on live feedback', { timeout: 180_000 }, async () => {
    const name = uniqueId('mon-rollback');
    await fx.registerCopies(name, 2);
    await registry.setAlias(name, 'production', 1, { reason: 'test: first deploy' });
    // Version 1 served January flights well before the deploy.
    const good = await fx.scoredRows(january, 600, 4);
    await fx.writeLogs({
      modelName: name,
      version: 1,
      table: good.rows,
      scores: good.scores,
      start: Date.now() - 120_000,
      feedback: true,
      idPrefix: 'v1',
    });
    await registry.setAlias(name, 'production', 2, { reason: 'test: deploy v2' });
    const config: MonitorConfigInput = { ...baseConfig(name), rollback: { margin: 0.02, minLabels: 200 } };
    const handle = await startMonitor(config, 2, 1);
    // The check the deploy triggers finds no v2 predictions yet.
    const first = await waitFor('the first check', async () => {
      const st = await status(handle);
      return st.checks >= 1 && st;
    });
    expect(first.rollbacks).toEqual([]);
    const deployedAt = first.deployment!.deployedAt;
    // Version 2 is broken: it scores each flight as if it were another one (its inputs got mixed up upstream).
    const bad = await fx.scoredRows(january, 600, 5);
    const shuffled = createRng(6);
    const mixed = Float64Array.from(bad.scores, () => bad.scores[shuffled.nextInt(bad.scores.length)]);
    await fx.writeLogs({
      modelName: name,
      version: 2,
      table: bad.rows,
      scores: mixed,
      start: deployedAt + 1,
      spacingMs: 5,
      feedback: true,
      idPrefix: 'v2',
    });
    // Every record in the past before the check reads the window.
    await waitFor('v2 records in the past', async () => Date.now() > deployedAt + 600 * 5 + 100);
    const s = await checkNow(handle);

    expect(s.lastCheck!.comparison!.previous).toMatchObject({ version: 1, labels: 600 });
    expect(s.lastCheck!.comparison!.current).toMatchObject({ version: 2, labels: 600 });
    expect(s.lastCheck!.comparison!.previous.value!).toBeGreaterThan(0.6);
    expect(s.lastCheck!.comparison!.current.value!).toBeLessThan(0.58);
    expect(s.rollbacks).toHaveLength(1);
    expect(s.rollbacks[0]).toMatchObject({ from: 2, to: 1 });
    expect(s.deployment).toMatchObject({ version: 1 });
    expect((await registry.getAlias(name, 'production'))?.version).toBe(1);
    const last = (await registry.aliasHistory(name, { alias: 'production' })).at(-1)!;
    expect(last).toMatchObject({ from: 2, to: 1, by: 'monitor' });
    expect(last.reason).toMatch(/live auc of v2 is 0\.\d+ .* vs 0\.\d+ of v1/);
    expect(s.alerts.map((a) => a.kind)).toContain('rollback');
    // A second check does not roll back again.
    expect((await checkNow(handle)).rollbacks).toHaveLength(1);
    await handle.terminate('test done');
  });

  it('survives a worker restart and continues as new, carrying its state', { timeout: 240_000 }, async () => {
    const name = uniqueId('mon-durable');
    await fx.registerCopies(name, 1);
    const a = await fx.scoredRows(january, 400, 7);
    await fx.writeLogs({
      modelName: name,
      version: 1,
      table: a.rows,
      scores: a.scores,
      start: Date.now() - 100_000,
      idPrefix: 'd',
    });
    const handle = await startMonitor({ ...baseConfig(name), continueAsNewAfter: 2 }, 1);
    await waitFor('the first check', async () => (await status(handle)).checks >= 1);
    const firstRunId = (await handle.describe()).runId;
    await checkNow(handle);

    // Every worker of the monitor's queues goes away; signals wait in Temporal until new workers come.
    await stopWorkers();
    await handle.signal(checkNowSignal);
    await startWorkers();
    await waitFor('the check asked for while no worker ran', async () => (await status(handle)).checks >= 3);
    await checkNow(handle);
    const s = await checkNow(handle);

    expect(s.checks).toBe(5);
    expect(s.lastCheck).toMatchObject({ verdict: 'ok', rows: 400 });
    expect(s.deployment).toMatchObject({ version: 1, runId: 'test-deploy' });
    // Two checks per run: the fifth check runs in the third run.
    expect(s.runs).toHaveLength(3);
    expect(s.runs[0]).toBe(firstRunId);
    expect((await handle.describe()).runId).toBe(s.runs[2]);
    expect(s.checksThisRun).toBe(1);
    await handle.terminate('test done');
  });
});
