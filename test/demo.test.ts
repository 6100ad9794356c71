import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { MlpipeClient } from '../client/mlpipe-client';
import { DEMO_MODEL, runDemo } from '../cli/demo';
import { startServing, type ServingInstance, type ServingLogger } from '../serving';
import { createModelRegistry, type ModelRegistry } from '../storage/registry';
import { testS3 } from './helpers';

// `mlpipe dev --demo`'s scenarios, end to end on the test stack: the shipped flights-delay pipeline trains on January
// and deploys to a real serving instance, real flights replay as traffic with late labels, the real monitor sees the
// months drift and starts retraining, and a deliberately worse model is rolled back on its live quality. Faster than
// `npm start` (fewer flights, shorter monitor interval); the same code path.

const { client: s3, store, bucket } = testS3();
let registry: ModelRegistry;
let mlpipe: MlpipeClient;
let temporal: Client;
let serving: ServingInstance;
const quiet: ServingLogger = { info: () => {}, warn: () => {}, error: (m, f) => console.error(m, f) };

/** Stops the model's monitor and any retraining it started, so neither outlives this file. */
async function stopMonitorAndRetrains() {
  const running = temporal.workflow.list({
    query: `ExecutionStatus = 'Running' AND (WorkflowId = 'monitor:${DEMO_MODEL}' OR WorkflowId STARTS_WITH 'retrain:${DEMO_MODEL}:')`,
  });
  for await (const wf of running) {
    await temporal.workflow
      .getHandle(wf.workflowId, wf.runId)
      .terminate('demo test cleanup')
      .catch(() => {});
  }
}

beforeAll(async () => {
  registry = createModelRegistry({ client: s3, bucket });
  mlpipe = await MlpipeClient.connect({ address: inject('stack').temporalAddress });
  temporal = mlpipe.client;
  // Other files train flights-delay too: start from no production model and no monitor, as a fresh `npm start` does.
  await stopMonitorAndRetrains();
  await registry.removeAlias(DEMO_MODEL, 'production', { reason: 'demo test: fresh start' }).catch(() => undefined);
  serving = await startServing({ store, registry, port: 0, models: [DEMO_MODEL], pollMs: 500, logger: quiet });
});

afterAll(async () => {
  await stopMonitorAndRetrains().catch(() => {});
  await serving?.close();
  await mlpipe?.close();
});

describe('the lifecycle demo (mlpipe dev --demo)', () => {
  it(
    'trains, deploys, serves, retrains on drift, and rolls back a worse model on live quality',
    { timeout: 900_000 },
    async () => {
      const summary = await runDemo({
        mlpipe,
        registry,
        servingUrl: serving.url,
        rate: 250,
        sampleEvery: 100,
        monitorInterval: 5,
      });

      // January's model went to production and answered the traffic; no request failed through every swap.
      expect(summary.initialVersion).toBeGreaterThan(0);
      expect(summary.replay?.done).toBe(true);
      expect(summary.replay?.failed).toBe(0);
      expect(summary.replay?.versions[summary.initialVersion!]).toBeGreaterThan(0);
      expect(summary.replay?.labelsSent).toBe(summary.replay?.sent);

      // The months drifted away from January's profile: the monitor started retraining, with its deterministic id.
      expect(summary.retrains.length).toBeGreaterThanOrEqual(1);
      for (const r of summary.retrains) expect(r.workflowId).toMatch(new RegExp(`^retrain:${DEMO_MODEL}:\\d+$`));

      // The worse model was deployed, then rolled back by the monitor, which said why.
      const worse = summary.worse?.version;
      expect(summary.worse?.state).toBe('succeeded');
      expect(worse).toBeGreaterThan(summary.initialVersion!);
      const rollback = summary.rollbacks.find((r) => r.from === worse);
      expect(rollback?.reason).toMatch(/live auc of v\d+ is 0\.\d+ .* worse by 0\.\d+ > margin 0\.02/);
      const history = await registry.aliasHistory(DEMO_MODEL, { alias: 'production' });
      const moveBack = history.find((c) => c.from === worse && c.by === 'monitor');
      expect(moveBack?.to).toBe(rollback?.to);
      expect((await registry.getAlias(DEMO_MODEL, 'production'))?.version).not.toBe(worse);
    },
  );
});
