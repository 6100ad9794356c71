/**
 * `mlpipe dev --demo` (what `npm start` runs): the whole model lifecycle on the real flights data, on the stack
 * `mlpipe dev` has just started.
 *
 * 1. `flights-delay` trains on January 2001, judges the ONNX file against its gates, registers it and deploys it to
 *    alias `production`; serving (127.0.0.1:8080) picks it up and the deploy step starts `monitor:flights-delay`.
 * 2. The replayer sends February–June flights to serving as live traffic, faster than real time, with each
 *    flight's true label arriving a simulated day later.
 * 3. The monitor compares the recent prediction log with the training profile: as the months turn, it reports which
 *    features drift and starts a retraining run on the most recent weeks, which is promoted only if it beats the
 *    production model on the same holdout.
 * 4. In mid-April the demo deploys a deliberately worse model (2 trees on 2,000 rows, gates waived); its live
 *    quality falls behind the previous version's and the monitor rolls production back, saying why.
 *
 * Everything is visible step by step here and in the Temporal UI (pipeline runs, `monitor:flights-delay`).
 */
import type { Client } from '@temporalio/client';
import { MlpipeClient, type RunHandle } from '../client/mlpipe-client';
import type { ModelRegistry } from '../storage/registry';
import type { DriftRow } from '../ml/drift';
import type { MonitorStatus } from '../workflows/monitor-types';
import type { RunStatus } from '../workflows/types';
import { bold, cyan, dim, green, red, say, yellow } from './output';
import { replayFlights, type ReplayProgress } from './replay';

export const DEMO_MODEL = 'flights-delay';

export interface DemoOptions {
  mlpipe: MlpipeClient;
  registry: ModelRegistry;
  servingUrl: string;
  /** Temporal UI, to print links. */
  uiUrl?: string;
  /** Replay speed: requests per second. @default 200 */
  rate?: number;
  /** Keep one flight in N. @default 40 */
  sampleEvery?: number;
  /** Seconds between monitor checks. @default 15 */
  monitorInterval?: number;
  signal?: AbortSignal;
}

const tag = (s: string) => say(`${cyan('demo')} ${dim('│')} ${s}`);
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Prints each step of a run as it settles; resolves with the run's final status. */
async function followRun(run: RunHandle, label: string): Promise<RunStatus | undefined> {
  const seen = new Map<string, string>();
  const result = run.result().then(
    () => true,
    () => false,
  );
  for (;;) {
    const done = await Promise.race([result, new Promise<undefined>((r) => setTimeout(r, 1000, undefined))]);
    const status = await run.status().catch(() => undefined);
    if (status) {
      for (const [id, step] of Object.entries(status.steps)) {
        if (seen.get(id) === step.state || step.state === 'pending') continue;
        seen.set(id, step.state);
        const colour = step.state === 'failed' ? red : step.state === 'running' ? dim : green;
        const why = step.error ? `: ${step.error.message.split('\n')[0].slice(0, 140)}` : '';
        tag(`  ${label} ${bold(id)} ${colour(step.state)}${why}`);
      }
    }
    if (done !== undefined) return status ?? (await run.status().catch(() => undefined));
  }
}

/** Runs both scenarios; resolves when the replay has sent every flight (or the signal aborts). */
/** What the demo did, for whoever started it (the demo test asserts on it). */
export interface DemoSummary {
  /** Version deployed by the January run (undefined when that run failed). */
  initialVersion?: number;
  /** Run id and version of the deliberately worse model, once deployed. */
  worse?: { runId: string; version?: number; state?: string };
  /** Retraining runs the monitor started, with how each ended. */
  retrains: { workflowId: string; state?: string }[];
  rollbacks: { from: number; to: number; reason: string }[];
  replay?: ReplayProgress;
}

export async function runDemo(opts: DemoOptions): Promise<DemoSummary> {
  const summary: DemoSummary = { retrains: [], rollbacks: [] };
  const { mlpipe, registry } = opts;
  const temporal: Client = mlpipe.client;
  const interval = opts.monitorInterval ?? 15;
  const stamp = Date.now().toString(36);
  const link = (workflowId: string) =>
    opts.uiUrl ? dim(` ${opts.uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`) : '';

  tag(bold('scenario 1: train on January 2001 → deploy → serve → monitor → retrain on drift'));
  const initial = await mlpipe.start(
    DEMO_MODEL,
    {
      from: '2001-01-01',
      to: '2001-02-01',
      validFrom: '2001-01-25',
      deploy: true,
      monitorInterval: interval,
      monitorWindow: 45,
      retrainCooldown: 60,
    },
    { runId: `demo-${stamp}-january`, trigger: 'demo' },
  );
  tag(`training run ${initial.runId}${link(initial.runId)}`);
  const first = await followRun(initial, 'january');
  if (first?.state !== 'succeeded') {
    tag(red(`the first training run ${first?.state ?? 'failed'}: ${first?.error?.message ?? ''}`));
    return summary;
  }
  const production = await registry.getAlias(DEMO_MODEL, 'production');
  summary.initialVersion = production?.version;
  tag(green(`${DEMO_MODEL} v${production?.version} is in production at ${opts.servingUrl}`));

  tag(bold('replaying February–June 2001 as live traffic (labels arrive one simulated day late)'));
  const monitor = temporal.workflow.getHandle(`monitor:${DEMO_MODEL}`);
  // Entries already printed, by time: the monitor keeps only its latest 50 of each.
  const printed = { alert: 0, retrain: 0, rollback: 0, check: 0 };
  let worseStarted = false;
  // Scenario 2 waits for retraining runs in flight: one finishing during it would replace the worse model first.
  let retrainsRunning = 0;
  let worseDone: Promise<void> | undefined;
  let lastLine = 0;

  const watchMonitor = async () => {
    const view = await monitor.query<MonitorStatus>('status').catch(() => undefined);
    if (!view) return;
    const check = view.lastCheck;
    if (check && check.at > printed.check) {
      printed.check = check.at;
      if (check.verdict === 'insufficient-data') {
        tag(dim(`monitor: ${check.rows} predictions in the window, not enough to judge yet`));
      } else {
        const worst = new Map<string, DriftRow>();
        for (const row of check.drift) if (!worst.has(row.feature) || row.drifted) worst.set(row.feature, row);
        const table = [...worst.values()]
          .map((d) => (d.drifted ? yellow : dim)(`${d.feature} ${d.statistic} ${d.value.toFixed(3)}`))
          .join(', ');
        const quality = check.quality
          .filter((q) => q.value !== null)
          .map((q) => `v${q.version} ${q.metric} ${q.value!.toFixed(3)} (${q.labels} labels)`)
          .join(', ');
        tag(
          `monitor: ${check.rows} predictions, ${check.verdict === 'drift' ? yellow('DRIFT') : green('no drift')}: ${table}` +
            (quality ? `; live ${quality}` : ''),
        );
      }
    }
    for (const alert of view.alerts.filter((a) => a.at > printed.alert))
      tag(yellow(`alert (${alert.kind}): ${alert.message}`));
    printed.alert = Math.max(printed.alert, ...view.alerts.map((a) => a.at));
    for (const retrain of view.retrains.filter((r) => r.at > printed.retrain)) {
      tag(
        yellow(`monitor started retraining run ${retrain.workflowId} (${retrain.reason})`) + link(retrain.workflowId),
      );
      const entry: DemoSummary['retrains'][number] = { workflowId: retrain.workflowId };
      summary.retrains.push(entry);
      retrainsRunning++;
      void followRun(mlpipe.run(retrain.workflowId), 'retrain').then((s) => {
        entry.state = s?.state;
        retrainsRunning--;
      });
    }
    printed.retrain = Math.max(printed.retrain, ...view.retrains.map((r) => r.at));
    for (const rb of view.rollbacks.filter((r) => r.at > printed.rollback)) {
      tag(red(`automatic rollback v${rb.from} → v${rb.to}: ${rb.reason}`));
      summary.rollbacks.push({ from: rb.from, to: rb.to, reason: rb.reason });
    }
    printed.rollback = Math.max(printed.rollback, ...view.rollbacks.map((r) => r.at));
  };

  const startWorse = async (simTime: number) => {
    worseStarted = true;
    const to = day(simTime + 86_400_000);
    const from = day(simTime - 27 * 86_400_000);
    tag(bold('scenario 2: deploy a deliberately worse model (2 trees on 2,000 rows, gates waived)'));
    const run = await mlpipe.start(
      DEMO_MODEL,
      {
        from,
        to,
        validFrom: day(simTime - 6 * 86_400_000),
        numTrees: 2,
        sample: 2000,
        earlyStopping: 0,
        minAuc: 0,
        maxAucDrop: 1,
        deploy: true,
        monitorInterval: interval,
        monitorWindow: 45,
        retrainCooldown: 60,
      },
      { runId: `demo-${stamp}-worse`, trigger: 'demo' },
    );
    tag(`worse model run ${run.runId}${link(run.runId)}`);
    summary.worse = { runId: run.runId };
    const end = await followRun(run, 'worse');
    summary.worse.state = end?.state;
    const deployed = (await run.result().catch(() => undefined))?.outputs.version;
    if (typeof deployed === 'number') summary.worse.version = deployed;
  };

  const onProgress = (p: ReplayProgress) => {
    const now = Date.now();
    if (!worseStarted && !retrainsRunning && p.simTime >= Date.parse('2001-04-15T00:00:00Z')) {
      worseDone = startWorse(p.simTime).catch((err: Error) => {
        tag(red(`scenario 2: ${err.message}`));
      });
    }
    if (now - lastLine < 5000 && !p.done) return;
    lastLine = now;
    const versions = Object.entries(p.versions)
      .map(([v, n]) => `v${v}: ${n}`)
      .join(', ');
    tag(
      dim(
        `replay ${day(p.simTime)}: ${p.sent} requests (${p.failed} failed), ${p.labelsSent} labels; served by ${versions}`,
      ),
    );
  };

  const poll = setInterval(() => void watchMonitor(), 3000);
  try {
    summary.replay = await replayFlights({
      servingUrl: opts.servingUrl,
      model: DEMO_MODEL,
      from: '2001-02-01',
      to: '2001-07-01',
      rate: opts.rate ?? 200,
      sampleEvery: opts.sampleEvery ?? 40,
      labelDelayHours: 24,
      signal: opts.signal,
      onProgress,
    });
    await worseDone;
    await watchMonitor();
  } finally {
    clearInterval(poll);
  }

  const history = await registry.aliasHistory(DEMO_MODEL, { alias: 'production' }).catch(() => []);
  tag(bold('production alias history:'));
  for (const change of history) {
    const move = `v${change.from ?? '-'} → v${change.to ?? '-'}`;
    const why = [change.reason, change.runId && `run ${change.runId}`].filter(Boolean).join(', ');
    tag(`  ${change.at}  ${move.padEnd(10)} ${dim(why)}`);
  }
  tag(green('demo finished; the stack keeps running (Ctrl-C stops it).'));
  return summary;
}
