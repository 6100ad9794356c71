/**
 * `npm run bench:dag`: the interpreter vs a hand-written workflow calling the same no-op activities in the same
 * order, on the same real Temporal server, in one process: a 50-step chain and a 200-wide fan-out.
 * Runs alternate between the two so machine noise hits both alike.
 */
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { startEmbeddedStack } from '../cli/embedded-stack';
import { getFreePort } from '../cli/ports';
import { createActivities } from '../activities';
import { FileArtifactStore } from '../storage/artifact-store';
import { installRuntime } from '../workers/run-workers';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const CHAIN = 50;
const WIDE = 200;
const queues = { workflows: 'bench', cpu: 'bench-cpu', gpu: 'bench-gpu' };

const chainDef = {
  name: 'chain',
  steps: Object.fromEntries(
    Array.from({ length: CHAIN }, (_, i) => [
      `s${i}`,
      {
        uses: 'echo',
        ...(i ? { needs: [`s${i - 1}`] } : {}),
        with: { i, prev: i ? `\${{ steps.s${i - 1}.outputs.i }}` : null },
      },
    ]),
  ),
};
const fanoutDef = {
  name: 'fanout',
  steps: {
    root: { uses: 'echo', with: { v: 0 } },
    ...Object.fromEntries(
      Array.from({ length: WIDE }, (_, i) => [`leaf${i}`, { uses: 'echo', needs: ['root'], with: { i } }]),
    ),
    join: { uses: 'echo', needs: Array.from({ length: WIDE }, (_, i) => `leaf${i}`), with: { n: WIDE } },
  },
};

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

async function main() {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mlpipe-bench-'));
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
  const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./workflows'), logger: undefined });
  const worker = await Worker.create({
    connection: native,
    taskQueue: queues.workflows,
    workflowBundle: bundle,
  });
  const activityWorker = await Worker.create({
    connection: native,
    taskQueue: queues.cpu,
    activities: createActivities({
      role: 'cpu',
      identity: 'bench',
      store: new FileArtifactStore(path.join(home, 'store')),
      queues,
      pipelineDirs: [],
      codeVersion: 'bench',
    }),
    maxConcurrentActivityTaskExecutions: 200,
  });
  const running = Promise.all([worker.run(), activityWorker.run()]);
  const connection = await Connection.connect({ address: stack.temporalAddress! });
  const client = new Client({ connection });

  type Case = { name: string; steps: number; interp: () => [string, unknown[]]; hand: () => [string, unknown[]] };
  const cases: Case[] = [
    {
      name: `chain ${CHAIN}`,
      steps: CHAIN,
      interp: () => ['pipeline', [{ definition: chainDef, queues }]],
      hand: () => ['handChain', [CHAIN, queues.cpu]],
    },
    {
      name: `fan-out ${WIDE}`,
      steps: WIDE + 2,
      interp: () => ['pipeline', [{ definition: fanoutDef, queues }]],
      hand: () => ['handFanout', [WIDE, queues.cpu]],
    },
  ];

  const once = async (type: string, args: unknown[]) => {
    const id = `bench-${type}-${Math.random().toString(36).slice(2)}`;
    const t0 = performance.now();
    await client.workflow.execute(type, { taskQueue: queues.workflows, workflowId: id, args });
    const ms = performance.now() - t0;
    const events = (await client.workflow.getHandle(id).fetchHistory()).events!.length;
    return { ms, events };
  };

  const rows: string[][] = [];
  for (const c of cases) {
    // Warm-up, not measured.
    await once(...c.interp());
    await once(...c.hand());
    const interp: number[] = [];
    const hand: number[] = [];
    let interpEvents = 0;
    let handEvents = 0;
    for (let i = 0; i < RUNS; i++) {
      const a = await once(...c.interp());
      const b = await once(...c.hand());
      interp.push(a.ms);
      hand.push(b.ms);
      interpEvents = a.events;
      handEvents = b.events;
    }
    const [ip50, ip99, hp50, hp99] = [pct(interp, 50), pct(interp, 99), pct(hand, 50), pct(hand, 99)];
    rows.push([
      c.name,
      `${hp50.toFixed(0)} / ${hp99.toFixed(0)}`,
      `${ip50.toFixed(0)} / ${ip99.toFixed(0)}`,
      `${(ip50 / hp50).toFixed(2)}x / ${(ip99 / hp99).toFixed(2)}x`,
      `${((ip50 - hp50) / c.steps).toFixed(2)}`,
      `${(handEvents / c.steps).toFixed(2)} / ${(interpEvents / c.steps).toFixed(2)}`,
      `${interpEvents - handEvents}`,
    ]);
  }

  const header = [
    'case',
    'hand p50/p99 ms',
    'interpreter p50/p99 ms',
    'ratio p50/p99',
    'overhead ms/step',
    'events/step hand/interp',
    'extra events/run',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(
    `\nDAG interpreter vs hand-written workflow (${RUNS} runs each, alternating; ${os.cpus().length} cores)\n`,
  );
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));

  worker.shutdown();
  activityWorker.shutdown();
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
