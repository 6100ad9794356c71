/**
 * Records the histories that test/replay.test.ts replays: `npm run record-histories` records all of them,
 * `npm run record-histories -- monitor retry` only those named. Re-record only on purpose (a workflow change that is
 * meant to be incompatible with runs in flight), and say so in the commit.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { NativeConnection } from '@temporalio/worker';
import { startEmbeddedStack } from '../cli/embedded-stack';
import { getFreePort } from '../cli/ports';
import { createWorkers } from '../workers/create-workers';
import { installRuntime } from '../workers/run-workers';
import { S3ArtifactStore, type ArtifactStore } from '../storage/artifact-store';
import { createModelRegistry, type ModelRegistry } from '../storage/registry';
import { createS3Client } from '../storage/s3-client';
import { defaultPipelineDirs } from '../definitions/node';
import {
  checkNowSignal,
  deployedSignal,
  MONITOR_WORKFLOW_TYPE,
  monitorStatusQuery,
  pauseSignal,
  resumeSignal,
  type MonitorConfigInput,
  type MonitorStatus,
} from '../workflows/monitor-types';
import type { Queues } from '../workflows/types';
import { createMonitorFixtures, trainFlightsModel, WEST_COAST } from './monitor-fixtures';
import { shapes } from './fixtures/shapes';
import { waitFor as waitForProbe } from './wait';

/** Recording runs whole workflows: waits are longer than in tests. */
const waitFor = <T>(what: string, probe: () => Promise<T | undefined | false>) =>
  waitForProbe(what, probe, { timeoutMs: 120_000, intervalMs: 200 });

type History = temporal.api.history.v1.IHistory;

const OUT = path.join(__dirname, 'fixtures', 'histories');

/** What a recording runs against: the recorder's own stack and workers. */
interface Recorder {
  client: Client;
  store: ArtifactStore;
  registry: ModelRegistry;
  queues: Queues;
}

/** A pipeline run to record: its definition, the approval step to approve, whether it is meant to fail. */
interface PipelineSpec {
  definition: unknown;
  approve?: string;
  fail?: boolean;
}

const behaviours: Record<string, PipelineSpec> = {
  retry: {
    definition: {
      name: 'retry',
      steps: {
        flaky: { uses: 'fail', retry: { maxAttempts: 3, initialInterval: '100ms' }, with: { failAttempts: 1 } },
      },
    },
  },
  rollback: {
    fail: true,
    definition: {
      name: 'rollback',
      steps: {
        a: { uses: 'echo', with: { v: 1 }, rollback: { uses: 'echo', with: { undo: 'a' } } },
        b: { uses: 'echo', needs: ['a'], rollback: { uses: 'echo', with: { undo: 'b' } } },
        boom: { uses: 'fail', needs: ['b'], retry: { maxAttempts: 1 } },
      },
    },
  },
  approval: {
    approve: 'gate',
    definition: {
      name: 'approval',
      steps: {
        gate: { uses: 'approval' },
        after: { uses: 'echo', needs: ['gate'], with: { by: '${{ steps.gate.outputs.by }}' } },
      },
    },
  },
  'if-and-foreach': {
    definition: {
      name: 'if-and-foreach',
      params: { go: { type: 'boolean', default: false } },
      steps: {
        skipped: { uses: 'echo', if: '${{ params.go }}' },
        fan: { uses: 'echo', forEach: '${{ range(5) }}', concurrency: 2, with: { i: '${{ item }}' } },
      },
    },
  },
};

/** Runs a pipeline definition to its end (or expected failure), approving its approval step when it has one. */
const recordPipeline =
  (name: string, spec: PipelineSpec) =>
  async ({ client, queues }: Recorder): Promise<History> => {
    const handle = await client.workflow.start('pipeline', {
      taskQueue: queues.workflows,
      workflowId: `replay-${name}`,
      args: [{ definition: spec.definition, queues }],
    });
    if (spec.approve) {
      await new Promise((r) => setTimeout(r, 1000));
      await handle.signal('approve', { step: spec.approve, by: 'recorder' });
    }
    await handle.result().catch((err) => {
      if (!spec.fail) throw err;
    });
    return handle.fetchHistory();
  };

/**
 * The first run of a monitor, on real data: a flights-delay model trained by the shipped pipeline, and West Coast June
 * flights it scored in the prediction log (drift). Started as the deploy step starts it (signalWithStart `deployed`),
 * so its first check alerts and starts a retrain; paused, checked on demand while paused, resumed, checked by its
 * interval timer, and continued as new after that third check. The run's history ends in ContinueAsNew.
 */
async function recordMonitor({ client, store, registry, queues }: Recorder): Promise<History> {
  const trained = await trainFlightsModel(client, registry, {
    taskQueue: queues.workflows,
    workflowId: 'record-monitor-train',
    queues,
  });
  const fx = await createMonitorFixtures({ store, registry, trained });
  try {
    const june = await fx.flightsBetween('2001-06-01', '2001-07-01');
    const served = await fx.scoredRows(june, 400, 1, (origin) => WEST_COAST.has(origin));
    await fx.writeLogs({
      modelName: trained.name,
      version: trained.version,
      table: served.rows,
      scores: served.scores,
      start: Date.now() - 60_000,
      idPrefix: 'recorded',
    });
  } finally {
    await fx.release();
  }
  const config: MonitorConfigInput = {
    model: trained.name,
    // Small enough that the timer fires within the recording, large enough that a pause sent right after a check
    // arrives before it.
    intervalSeconds: 3,
    windowSeconds: 600,
    minRows: 200,
    // Three checks per run: one per way a check starts (deploy, checkNow, timer).
    continueAsNewAfter: 3,
    retrain: {
      pipeline: 'monitor-retrain',
      cooldownSeconds: 3600,
      eventTime: { column: 'date', windowDays: 90, validDays: 14 },
    },
    queues: { workflows: queues.workflows, cpu: queues.cpu },
  };
  const started = await client.workflow.signalWithStart(MONITOR_WORKFLOW_TYPE, {
    taskQueue: queues.workflows,
    workflowId: 'replay-monitor',
    args: [config],
    signal: deployedSignal,
    signalArgs: [{ version: trained.version, previousVersion: null, runId: 'record-deploy' }],
  });
  const run = client.workflow.getHandle(started.workflowId, started.signaledRunId);
  const checks = (n: number) =>
    waitFor(`check ${n}`, async () => {
      const s = (await run.query(monitorStatusQuery)) as MonitorStatus;
      return s.checks >= n && s;
    });

  const first = await checks(1);
  await run.signal(pauseSignal);
  await run.signal(checkNowSignal);
  await checks(2);
  await run.signal(resumeSignal);
  await waitFor('continue-as-new', async () => (await run.describe()).status.name === 'CONTINUED_AS_NEW');
  const history = await run.fetchHistory();
  await client.workflow.getHandle(started.workflowId).terminate('recorded');
  for (const r of first.retrains) await client.workflow.getHandle(r.workflowId).result();
  checkMonitorHistory(history);
  return history;
}

/** Fails the recording unless the history holds every path it is meant to cover (the steps above can race). */
function checkMonitorHistory(history: History): void {
  const count = (what: (e: temporal.api.history.v1.IHistoryEvent) => unknown) =>
    history.events?.filter(what).length ?? 0;
  const activities = (type: string) =>
    count((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type);
  const signals = (name: string) => count((e) => e.workflowExecutionSignaledEventAttributes?.signalName === name);
  const found = {
    checkModel: activities('checkModel'),
    sendMonitorAlert: activities('sendMonitorAlert'),
    startRetrain: activities('startRetrain'),
    deployed: signals(deployedSignal.name),
    pause: signals(pauseSignal.name),
    checkNow: signals(checkNowSignal.name),
    resume: signals(resumeSignal.name),
    timerFired: count((e) => e.timerFiredEventAttributes),
    continuedAsNew: count((e) => e.workflowExecutionContinuedAsNewEventAttributes),
  };
  const want = {
    checkModel: 3,
    sendMonitorAlert: 2,
    startRetrain: 1,
    deployed: 1,
    pause: 1,
    checkNow: 1,
    resume: 1,
    timerFired: 1,
    continuedAsNew: 1,
  };
  if (JSON.stringify(found) !== JSON.stringify(want)) {
    throw new Error(`the monitor history is not the one meant: ${JSON.stringify(found)}, want ${JSON.stringify(want)}`);
  }
}

async function main() {
  const pipelines: Record<string, PipelineSpec> = {
    ...Object.fromEntries(Object.entries(shapes).map(([k, d]) => [k.replace(/\s+/g, '-'), { definition: d }])),
    ...behaviours,
  };
  const all: Record<string, (r: Recorder) => Promise<History>> = {
    ...Object.fromEntries(Object.entries(pipelines).map(([name, spec]) => [name, recordPipeline(name, spec)])),
    monitor: recordMonitor,
  };
  const only = process.argv.slice(2);
  const unknown = only.filter((n) => !(n in all));
  if (unknown.length)
    throw new Error(`no recording named ${unknown.join(', ')}; known: ${Object.keys(all).join(', ')}`);

  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mlpipe-record-'));
  const s3 = { accessKey: 'mlpipe-record', secretKey: 'mlpipe-record-secret', bucket: 'mlpipe', region: 'us-east-1' };
  const stack = await startEmbeddedStack({
    home,
    temporal: {
      port: await getFreePort(),
      uiPort: 0,
      httpPort: await getFreePort(),
      dbFile: null,
      namespace: 'default',
    },
    // The monitor reads the model registry, which lives on S3.
    minio: { port: await getFreePort(), consolePort: await getFreePort(), dataDir: path.join(home, 'minio'), ...s3 },
  });
  installRuntime('WARN');
  const s3Client = createS3Client({ endpoint: stack.s3Endpoint!, ...s3 });
  const store = new S3ArtifactStore(s3Client, s3.bucket, stack.s3Endpoint!);
  const registry = createModelRegistry({ client: s3Client, bucket: s3.bucket, store });
  const native = await NativeConnection.connect({ address: stack.temporalAddress! });
  const queues = { workflows: 'record', cpu: 'record-cpu', gpu: 'record-gpu' };
  const workers = await createWorkers({
    connection: native,
    namespace: 'default',
    queues,
    roles: ['orchestrator', 'cpu', 'gpu'],
    gpuCpuFallback: true,
    deps: {
      store,
      registry,
      // The monitor's retrain pipeline is a test fixture.
      pipelineDirs: [...defaultPipelineDirs(), path.join(__dirname, 'fixtures', 'pipelines')],
      codeVersion: 'record',
    },
  });
  const running = Promise.all(workers.map((w) => w.run()));
  const connection = await Connection.connect({ address: stack.temporalAddress! });
  const client = new Client({ connection });
  fs.mkdirSync(OUT, { recursive: true });

  try {
    for (const [name, record] of Object.entries(all)) {
      if (only.length && !only.includes(name)) continue;
      const history = await record({ client, store, registry, queues });
      // Binary protobuf: the SDK's historyToJSON trips over its two protobufjs copies in 1.24.
      fs.writeFileSync(path.join(OUT, `${name}.binpb`), temporal.api.history.v1.History.encode(history).finish());
      console.log(`recorded ${name}: ${history.events?.length} events`);
    }
  } finally {
    for (const w of workers) w.shutdown();
    await running;
    await connection.close();
    await native.close();
    await stack.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
