import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Client, Connection, WorkflowHandle } from '@temporalio/client';
import { ManagedProcess } from '../cli/processes';
import { createModelRegistry, type ModelRegistry } from '../storage/registry';
import type { PipelineResult, RunStatus } from '../workflows/types';
import { testClient, testS3, uniqueId } from './helpers';

// The shipped pipeline on the real flights data, through the real worker, Temporal and MinIO.
const quick = { from: '2001-01-01', to: '2001-01-11', validFrom: '2001-01-09', numTrees: 25 };
const MODEL = 'flights-delay';

let client: Client;
let connection: Connection;
let registry: ModelRegistry;
beforeAll(async () => {
  ({ client, connection } = await testClient());
  const { client: s3, bucket } = testS3();
  registry = createModelRegistry({ client: s3, bucket });
});
afterAll(async () => connection?.close());

async function runFlights(params: Record<string, unknown>, queues?: Record<string, string>) {
  const handle: WorkflowHandle = await client.workflow.start('pipeline', {
    taskQueue: 'mlpipe',
    workflowId: uniqueId('flights'),
    // Training only: these tests judge models, they do not deploy them (test/deploy.test.ts does).
    args: [{ pipeline: 'flights-delay', params: { deploy: false, ...params }, ...(queues ? { queues } : {}) }],
  });
  const outcome = await handle.result().then(
    (r: PipelineResult) => ({ ok: true, result: r, error: undefined }),
    (e: unknown) => ({ ok: false, result: undefined, error: e }),
  );
  return { handle, ...outcome, status: await handle.query<RunStatus>('status') };
}

function rootCause(err: unknown): { type?: string; message: string } {
  let e = err as { cause?: unknown; type?: string; message: string };
  while (e.cause) e = e.cause as typeof e;
  return e;
}

describe('flights-delay on real data', () => {
  it('turns real flights into a validated, registered ONNX model aliased candidate', { timeout: 300_000 }, async () => {
    const { ok, result, status, error } = await runFlights(quick);
    expect(error).toBeUndefined();
    expect(ok).toBe(true);
    for (const id of ['ingest', 'train', 'champion', 'evaluate', 'register', 'candidate']) {
      expect(status.steps[id].state, id).toBe('succeeded');
    }
    expect(status.steps.train.queue).toBe('gpu');
    const version = result!.outputs.version as number;
    expect(result!.outputs.auc as number).toBeGreaterThan(0.55);
    const alias = await registry.getAlias(MODEL, 'candidate');
    expect(alias?.version).toBe(version);
    const registered = await registry.getVersion(MODEL, version);
    expect(registered.card).toMatchObject({ label: 'delayed', kind: 'gbdt' });
    expect((registered.card as { features: { name: string }[] }).features.map((f) => f.name)).toEqual([
      'distance',
      'origin',
      'destination',
      'hour',
      'dayOfWeek',
      'month',
    ]);
    // `deploy: false`: trained, judged and registered, not deployed.
    expect(status.steps.deploy.state).toBe('skipped');
    // What was judged is byte for byte what is registered.
    const bytes = await registry.loadModelBytes(MODEL, version);
    expect(bytes.length).toBeGreaterThan(1000);
  });

  it('stops at a failed gate: nothing registered, the candidate alias untouched', { timeout: 300_000 }, async () => {
    const before = await registry.getAlias(MODEL, 'candidate');
    const versionsBefore = (await registry.listVersions(MODEL)).length;
    const { ok, error, status } = await runFlights({ ...quick, minAuc: 0.99 });
    expect(ok).toBe(false);
    expect(rootCause(error).type).toBe('GateFailed');
    expect(rootCause(error).message).toMatch(/auc: 0\.\d+ < min 0\.99/);
    expect(status.steps.register.state).toBe('skipped');
    expect((await registry.getAlias(MODEL, 'candidate'))?.version).toBe(before?.version);
    expect((await registry.listVersions(MODEL)).length).toBe(versionsBefore);
  });

  it('judges a challenger against the production champion on the same holdout', { timeout: 300_000 }, async () => {
    const champion = (await registry.getAlias(MODEL, 'candidate'))!.version;
    await registry.setAlias(MODEL, 'production', champion, { reason: 'test: champion' });
    // One tree cannot match 25: the challenger must lose by more than the allowed drop.
    const { ok, error, status } = await runFlights({ ...quick, numTrees: 1, maxAucDrop: 0 });
    expect(ok).toBe(false);
    expect(rootCause(error).type).toBe('GateFailed');
    expect(rootCause(error).message).toMatch(/vsChampion/);
    expect(status.steps.champion.outputsSummary).toContain(`"version":${champion}`);
  });
});

describe('train.linear', () => {
  it('trains a logistic model on the same data and judges its ONNX file', { timeout: 300_000 }, async () => {
    const handle = await client.workflow.start('pipeline', {
      taskQueue: 'mlpipe',
      workflowId: uniqueId('linear'),
      args: [
        {
          definition: {
            name: 'flights-linear',
            steps: {
              ingest: {
                uses: 'ingest',
                with: {
                  source: 'npm://vega-datasets/data/flights-3m.parquet',
                  columns: { date: 'timestamp', delay: 'number', distance: 'number', origin: 'category' },
                  filter: { column: 'date', from: '2001-01-01', to: '2001-01-08' },
                  derive: { delayed: 'delay > 15', hour: 'hour(date)' },
                  split: { by: 'time', column: 'date', validFrom: '2001-01-06' },
                },
              },
              train: {
                uses: 'train.linear',
                needs: ['ingest'],
                with: {
                  train: '${{ steps.ingest.outputs.train }}',
                  label: 'delayed',
                  features: ['distance', 'origin', 'hour'],
                  params: { objective: 'binary', lambdaL2: 0.001 },
                },
              },
              evaluate: {
                uses: 'evaluate',
                needs: ['train', 'ingest'],
                with: {
                  model: '${{ steps.train.outputs.model }}',
                  dataset: '${{ steps.ingest.outputs.valid }}',
                  label: 'delayed',
                  gates: { auc: { min: 0.55 } },
                },
              },
            },
          },
        },
      ],
    });
    const result = (await handle.result()) as PipelineResult;
    const metrics = (result.steps.evaluate.outputs as { metrics: { auc: number } }).metrics;
    expect(metrics.auc).toBeGreaterThan(0.55);
    expect(result.steps.train.outputs).toMatchObject({ features: ['distance', 'origin', 'hour'] });
  });
});

describe('training interrupted by kill -9 of its worker', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlpipe-train-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const startWorker = (queue: string) =>
    new ManagedProcess({
      name: 'train-worker',
      command: process.execPath,
      args: [path.join(__dirname, '..', 'bin', 'mlpipe.js'), 'worker', '--role', 'cpu', 'gpu', '--cpu-fallback'],
      env: {
        ...process.env,
        ...inject('stack').env,
        MLPIPE_CPU_QUEUE: `${queue}-cpu`,
        MLPIPE_GPU_QUEUE: `${queue}-gpu`,
      },
      logFile: path.join(tmp, 'worker.log'),
    });

  it('resumes from the last checkpoint instead of starting over', { timeout: 400_000 }, async () => {
    const queue = uniqueId('train');
    let worker = startWorker(queue);
    try {
      await worker.waitForLine(/worker \S+ polling/, 60_000);
      const handle = await client.workflow.start('pipeline', {
        taskQueue: 'mlpipe',
        workflowId: uniqueId('resume'),
        args: [
          {
            pipeline: 'flights-delay',
            // A month of flights and many trees: long enough to be killed mid-way.
            params: {
              from: '2001-01-01',
              to: '2001-02-01',
              validFrom: '2001-01-25',
              numTrees: 400,
              earlyStopping: 0,
              deploy: false,
            },
            queues: { cpu: `${queue}-cpu`, gpu: `${queue}-gpu` },
          },
        ],
      });
      // Wait until training has checkpointed at least once (heartbeat details carry the checkpoint).
      const deadline = Date.now() + 240_000;
      for (;;) {
        const d = await handle.describe();
        const details = d.raw.pendingActivities?.find((a) => a.heartbeatDetails)?.heartbeatDetails;
        const json = details?.payloads?.[0]?.data ? JSON.parse(Buffer.from(details.payloads[0].data).toString()) : null;
        if (json && typeof json.iteration === 'number' && json.iteration >= 20) break;
        if (Date.now() > deadline) throw new Error('training never checkpointed');
        await new Promise((r) => setTimeout(r, 250));
      }
      await worker.kill();
      worker = startWorker(queue);
      await worker.waitForLine(/worker \S+ polling/, 60_000);
      const result = (await handle.result()) as PipelineResult;
      const status = await handle.query<RunStatus>('status');
      expect(status.steps.train.attempts).toBe(2);
      const train = result.steps.train.outputs as { resumedFrom: number | null; metrics: { iterations: number } };
      expect(train.resumedFrom).toBeGreaterThanOrEqual(20);
      expect(train.metrics.iterations).toBeGreaterThan(train.resumedFrom!);
    } finally {
      await worker.stop();
    }
  });
});
