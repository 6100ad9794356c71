/**
 * Records the histories that test/replay.test.ts replays: `npm run record-histories`. Re-record only on purpose
 * (a workflow change that is meant to be incompatible with runs in flight), and say so in the commit.
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
import { FileArtifactStore } from '../storage/artifact-store';
import { defaultPipelineDirs } from '../definitions/node';
import { shapes } from './fixtures/shapes';

const OUT = path.join(__dirname, 'fixtures', 'histories');

const behaviours: Record<string, { definition: unknown; approve?: string; fail?: boolean }> = {
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

async function main() {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mlpipe-record-'));
  const stack = await startEmbeddedStack({
    home,
    temporal: {
      port: await getFreePort(),
      uiPort: 0,
      httpPort: await getFreePort(),
      dbFile: null,
      namespace: 'default',
    },
    minio: false,
  });
  installRuntime('WARN');
  const native = await NativeConnection.connect({ address: stack.temporalAddress! });
  const queues = { workflows: 'record', cpu: 'record-cpu', gpu: 'record-gpu' };
  const workers = await createWorkers({
    connection: native,
    namespace: 'default',
    queues,
    roles: ['orchestrator', 'cpu', 'gpu'],
    gpuCpuFallback: true,
    deps: {
      store: new FileArtifactStore(path.join(home, 'store')),
      pipelineDirs: defaultPipelineDirs(),
      codeVersion: 'record',
    },
  });
  const running = Promise.all(workers.map((w) => w.run()));
  const connection = await Connection.connect({ address: stack.temporalAddress! });
  const client = new Client({ connection });
  fs.mkdirSync(OUT, { recursive: true });

  const all = {
    ...Object.fromEntries(Object.entries(shapes).map(([k, d]) => [k.replace(/\s+/g, '-'), { definition: d }])),
    ...behaviours,
  } as Record<string, { definition: unknown; approve?: string; fail?: boolean }>;
  for (const [name, spec] of Object.entries(all)) {
    const workflowId = `replay-${name}`;
    const handle = await client.workflow.start('pipeline', {
      taskQueue: queues.workflows,
      workflowId,
      args: [{ definition: spec.definition, queues }],
    });
    if (spec.approve) {
      await new Promise((r) => setTimeout(r, 1000));
      await handle.signal('approve', { step: spec.approve, by: 'recorder' });
    }
    await handle.result().catch((err) => {
      if (!spec.fail) throw err;
    });
    const history = await handle.fetchHistory();
    // Binary protobuf: the SDK's historyToJSON trips over its two protobufjs copies in 1.24.
    fs.writeFileSync(path.join(OUT, `${name}.binpb`), temporal.api.history.v1.History.encode(history).finish());
    console.log(`recorded ${name}: ${history.events?.length} events`);
  }

  for (const w of workers) w.shutdown();
  await running;
  await connection.close();
  await native.close();
  await stack.stop();
  fs.rmSync(home, { recursive: true, force: true });
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
