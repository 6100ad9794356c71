import {
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  checkNowSignal,
  deployedSignal,
  MONITOR_HISTORY_LIMIT,
  MonitorConfigSchema,
  monitorStatusQuery,
  pauseSignal,
  resumeSignal,
  type CheckResult,
  type MonitorAlert,
  type MonitorConfig,
  type MonitorConfigInput,
  type MonitorState,
} from './monitor-types';
import { queues as defaultQueues } from './queues';

/** Activity profile of the monitor's checks: reading a window of the log and a reference is seconds, not hours. */
const monitorActivity = {
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 3, initialInterval: 2000, backoffCoefficient: 2, maximumInterval: 30_000 },
} as const;

const push = <T>(list: T[], item: T) => {
  list.push(item);
  if (list.length > MONITOR_HISTORY_LIMIT) list.splice(0, list.length - MONITOR_HISTORY_LIMIT);
};

const initialState = (): MonitorState => ({
  paused: false,
  checks: 0,
  quality: {},
  alerts: [],
  retrains: [],
  rollbacks: [],
  breached: false,
  runs: [],
});

/**
 * One long-running monitor per deployed model (id `monitor:<model>`). Every `intervalSeconds`, or on `checkNow`, it
 * compares the recent prediction log with the training data (feature and prediction drift) and measures live quality
 * per version from the feedback log. A breach alerts and starts the model's retraining pipeline (one per cooldown,
 * whatever the number of breaches); a newly deployed version that does worse than its predecessor is rolled back.
 * Continues as new every `continueAsNewAfter` checks, carrying its state.
 */
export async function monitor(input: MonitorConfigInput, carried?: MonitorState): Promise<never> {
  let config: MonitorConfig = MonitorConfigSchema.parse(input);
  const state: MonitorState = carried ?? initialState();
  state.runs = [...state.runs, workflowInfo().runId].slice(-MONITOR_HISTORY_LIMIT);
  let checksThisRun = 0;
  // A checkNow that arrived while the previous run was finishing is carried over, not lost.
  let checkRequested = state.pendingCheck ?? false;
  delete state.pendingCheck;

  const activities = () =>
    proxyActivities<Activities>({ ...monitorActivity, taskQueue: config.queues?.cpu ?? defaultQueues.cpu });

  setHandler(monitorStatusQuery, () => ({ ...state, config, checksThisRun }));
  setHandler(pauseSignal, () => void (state.paused = true));
  setHandler(resumeSignal, () => void (state.paused = false));
  setHandler(checkNowSignal, () => void (checkRequested = true));
  setHandler(deployedSignal, (event) => {
    if (event.config) config = MonitorConfigSchema.parse(event.config);
    state.deployment = {
      version: event.version,
      previousVersion: event.previousVersion ?? null,
      runId: event.runId,
      deployedAt: Date.now(),
    };
    // A new version starts with a clean slate: its first breach alerts again.
    state.breached = false;
    checkRequested = true;
  });

  /** Records a failure of the monitor's own work; only cancellation stops the monitor. */
  const recordError = (err: unknown) => {
    if (isCancellation(err)) throw err;
    state.lastError = { at: Date.now(), message: (err as Error).message };
  };

  const alert = async (kind: MonitorAlert['kind'], message: string) => {
    let delivered: boolean | undefined;
    try {
      const sent = await activities().sendMonitorAlert({
        model: config.model,
        kind,
        message,
        webhook: config.alertWebhook,
      });
      delivered = config.alertWebhook ? sent.delivered : undefined;
    } catch (err) {
      recordError(err);
    }
    push(state.alerts, { at: Date.now(), kind, message, ...(delivered !== undefined ? { delivered } : {}) });
  };

  for (;;) {
    if (state.paused) {
      // Paused: no scheduled checks; `checkNow` still checks once, `resume` restarts the clock.
      await condition(() => checkRequested || !state.paused);
      if (!checkRequested) continue;
    } else {
      await condition(() => checkRequested || state.paused, config.intervalSeconds * 1000);
      if (state.paused && !checkRequested) continue;
    }
    checkRequested = false;
    // Nothing deployed yet: nothing to compare.
    if (state.deployment) await check(state.deployment);

    if (checksThisRun >= config.continueAsNewAfter || workflowInfo().continueAsNewSuggested) {
      // Let signal handlers finish so nothing they changed is lost, then carry the state into a fresh history.
      await condition(allHandlersFinished);
      return continueAsNew<typeof monitor>(config, { ...state, ...(checkRequested ? { pendingCheck: true } : {}) });
    }
  }

  async function check(deployment: NonNullable<MonitorState['deployment']>) {
    try {
      const result = await activities().checkModel({
        config,
        version: deployment.version,
        previousVersion: deployment.previousVersion ?? undefined,
        deployedAt: deployment.deployedAt,
        now: Date.now(),
      });
      state.lastCheck = result;
      for (const q of result.quality) state.quality[String(q.version)] = q;
      await maybeRollBack(result);
      await maybeRetrain(result);
    } catch (err) {
      recordError(err);
      await alert('error', `${config.model}: check failed: ${(err as Error).message}`);
    } finally {
      // Counted once everything the check led to is done: `checks` going up means the status shows its outcome.
      state.checks++;
      checksThisRun++;
    }
  }

  async function maybeRollBack(result: CheckResult) {
    const c = result.comparison;
    const rollback = config.rollback;
    const deployment = state.deployment;
    if (!c || !rollback || !deployment?.previousVersion || c.current.value === null || c.previous.value === null)
      return;
    if (c.current.labels < rollback.minLabels || c.previous.labels < rollback.minLabels) return;
    const lowerIsBetter = c.current.metric === 'rmse';
    const loss = lowerIsBetter ? c.current.value - c.previous.value : c.previous.value - c.current.value;
    if (!(loss > rollback.margin)) return;
    const from = deployment.version;
    const to = deployment.previousVersion;
    const fmt = (v: number) => v.toFixed(4);
    const reason =
      `monitor: live ${c.current.metric} of v${from} is ${fmt(c.current.value)} (${c.current.labels} labels) vs ` +
      `${fmt(c.previous.value)} of v${to} (${c.previous.labels} labels) before the deploy; worse by ${fmt(loss)} > ` +
      `margin ${rollback.margin}`;
    const moved = await activities().rollBackModel({
      model: config.model,
      from,
      to,
      reason,
      runId: workflowInfo().workflowId,
    });
    if (!moved.rolledBack) {
      log.warn('rollback skipped', { model: config.model, from, to, why: moved.detail });
      await alert('error', `rollback of ${config.model} v${from} → v${to} skipped: ${moved.detail}`);
      // Someone else moved production: do not compare against a deployment that is no longer current.
      state.deployment = { ...deployment, previousVersion: null };
      return;
    }
    push(state.rollbacks, { at: Date.now(), from, to, reason });
    state.deployment = { version: to, previousVersion: null, runId: deployment.runId, deployedAt: Date.now() };
    await alert('rollback', `${config.model}: production rolled back v${from} → v${to}: ${reason}`);
  }

  async function maybeRetrain(result: CheckResult) {
    const breach = result.verdict === 'drift';
    const wasBreached = state.breached;
    state.breached = breach;
    if (!breach) return;
    const what = [
      ...result.driftedFeatures.map((f) => `feature ${f}`),
      ...(result.predictionDrift ? ['the prediction'] : []),
    ].join(', ');
    const reason = `drift in ${what} over ${result.rows} predictions`;
    if (!wasBreached) await alert('drift', `${config.model}: ${reason}`);
    const retrain = config.retrain;
    if (!retrain) return;
    const now = Date.now();
    const cooldown = retrain.cooldownSeconds * 1000;
    const last = state.retrains[state.retrains.length - 1];
    if (last && now - last.at < cooldown) return;
    const started = await activities().startRetrain({
      model: config.model,
      pipeline: retrain.pipeline,
      params: retrain.params,
      eventTime: retrain.eventTime,
      maxEventTime: result.maxEventTime,
      // Deterministic: every breach in the same cooldown slot names the same run (use-existing on conflict).
      workflowId: `retrain:${config.model}:${Math.floor(now / cooldown)}`,
      taskQueue: config.queues?.workflows ?? workflowInfo().taskQueue,
      queues: config.queues?.cpu ? { cpu: config.queues.cpu } : undefined,
      reason,
    });
    push(state.retrains, {
      at: now,
      workflowId: started.workflowId,
      pipeline: retrain.pipeline,
      params: started.params,
      reason,
    });
    await alert('retrain', `${config.model}: started ${retrain.pipeline} as ${started.workflowId} (${reason})`);
  }
}
