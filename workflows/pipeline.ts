import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  condition,
  executeChild,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Step } from '../definitions/schema';
import { evaluateTemplate } from '../definitions/template';
import { parseDuration } from '../definitions/duration';
import { BLOCKING_STATES, needsOf, SUCCESS_STATES } from '../definitions/plan';
import { approveSignal, rejectSignal, statusQuery, type ApprovalDecision } from './definitions';
import { ErrorTypes, permanentErrorTypes } from './errors';
import type { PipelineInput, PipelineResult, Queues, RunStatus, StepResult, StepTask } from './types';
import { queues as defaultQueues } from './queues';

/** Activity profiles; a step's declared policy overrides them. */
const cpuStep = { startToCloseTimeout: '1 hour', heartbeatTimeout: '1 minute' } as const;
const gpuStep = { startToCloseTimeout: '6 hours', heartbeatTimeout: '1 minute' } as const;
const defaultRetry = { maximumAttempts: 3, initialInterval: 1000, backoffCoefficient: 2, maximumInterval: 60_000 };
const rollbackRetry = { maximumAttempts: 5, initialInterval: 1000, backoffCoefficient: 2, maximumInterval: 30_000 };

/** forEach lists longer than this run in child workflows, so one run's history stays bounded. */
const FOR_EACH_BATCH = 200;

const keys = {
  pipeline: 'MlpipePipeline',
  status: 'MlpipeStatus',
} as const;

interface Compensation {
  stepId: string;
  step: Step;
}

/**
 * The generic interpreter: runs any validated pipeline definition durably. Starts every ready step, awaits the
 * first to settle, records it and repeats; on a failure or cancellation it rolls back completed steps in reverse.
 */
export async function pipeline(input: PipelineInput): Promise<PipelineResult> {
  const info = workflowInfo();
  const prepareQueue = input.queues?.cpu ?? defaultQueues.cpu;
  const { prepareRun } = proxyActivities<Activities>({
    taskQueue: prepareQueue,
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 3, nonRetryableErrorTypes: permanentErrorTypes },
  });

  const status: RunStatus = {
    runId: info.workflowId,
    pipeline: input.pipeline ?? '(inline)',
    state: 'starting',
    params: input.params ?? {},
    startedAt: new Date(info.startTime).toISOString(),
    steps: {},
    rolledBack: [],
  };
  setHandler(statusQuery, () => status);
  const decisions = new Map<string, ApprovalDecision & { decision: 'approved' | 'rejected' }>();
  setHandler(approveSignal, (d) => void decisions.set(d.step, { ...d, decision: 'approved' }));
  setHandler(rejectSignal, (d) => void decisions.set(d.step, { ...d, decision: 'rejected' }));

  const prepared = await prepareRun({ pipeline: input.pipeline, definition: input.definition, params: input.params });
  const def = prepared.definition;
  const queues: Queues = { ...prepared.queues, ...input.queues };
  status.pipeline = def.name;
  status.params = prepared.params;
  status.state = 'running';
  for (const [id, step] of Object.entries(def.steps)) {
    status.steps[id] = { state: 'pending', uses: step.uses, queue: queueOf(step, step.uses), attempts: 0 };
  }
  upsertSearchAttributes({ [keys.pipeline]: [def.name], [keys.status]: ['running'] });

  const outputs: Record<string, unknown> = {};
  // Expressions read a snapshot of every step; rebuilt only after a step settles (a 200-wide fan-out would
  // otherwise rebuild it 200 times in one pass).
  let snapshot: Record<string, unknown> | undefined;
  const context = (extra: Record<string, unknown> = {}) => {
    snapshot ??= {
      params: prepared.params,
      steps: Object.fromEntries(
        Object.entries(status.steps).map(([id, s]) => [id, { outputs: outputs[id] ?? null, status: s.state }]),
      ),
      run: { id: info.workflowId, attempt: info.attempt, startTime: status.startedAt },
    };
    return { ...snapshot, ...extra };
  };

  // Readiness is re-checked only for the dependants of a step that settled, in definition order.
  const order = Object.keys(def.steps);
  const dependants = new Map<string, string[]>(order.map((id) => [id, []]));
  for (const id of order) for (const n of needsOf(def, id)) dependants.get(n)?.push(id);
  let dirty = new Set(order);
  const settled = (id: string) => {
    snapshot = undefined;
    for (const d of dependants.get(id) ?? []) dirty.add(d);
  };
  const skip = (id: string) => {
    status.steps[id].state = 'skipped';
    settled(id);
  };

  const compensations: Compensation[] = [];
  let failure: { error: unknown; step: string } | undefined;
  const inFlight = new Map<string, { promise: Promise<void>; scope: CancellationScope }>();

  /** Runs one step to completion; never rejects: the outcome lands in `status`, `outputs` and `failure`. */
  const execute = async (id: string, step: Step): Promise<void> => {
    const s = status.steps[id];
    s.state = 'running';
    s.startedAt = new Date().toISOString();
    try {
      const result = await runStep(id, step);
      outputs[id] = result.outputs;
      s.state = result.cached ? 'cached' : 'succeeded';
      s.attempts = result.attempt;
      s.outputsSummary = summarize(result.outputs);
      s.startedAt = result.startedAt ?? s.startedAt;
      s.endedAt = result.endedAt ?? new Date().toISOString();
      if (step.rollback && !result.cached) compensations.push({ stepId: id, step });
    } catch (err) {
      s.endedAt = new Date().toISOString();
      if (isCancellation(err)) {
        s.state = 'cancelled';
      } else {
        s.state = 'failed';
        s.error = describeError(err);
        s.attempts = Math.max(s.attempts, attemptOf(err));
      }
      failure ??= { error: err, step: id };
    }
    settled(id);
  };

  const runStep = async (id: string, step: Step): Promise<StepResult> => {
    const now = () => new Date().toISOString();
    if (step.uses === 'approval') return awaitApproval(id, step);
    if (step.forEach !== undefined) return runForEach(id, step);
    const resolved = resolve(step.with ?? {}, context(), id);
    if (step.uses === 'pipeline') {
      const w = resolved as { pipeline: string; params?: Record<string, unknown> };
      const startedAt = now();
      const child = await executeChild(pipeline, {
        args: [{ pipeline: w.pipeline, params: w.params ?? {}, queues: input.queues }],
        workflowId: `${info.workflowId}/${id}`,
        taskQueue: info.taskQueue,
      });
      return { outputs: child.outputs, attempt: 1, cached: false, startedAt, endedAt: now() };
    }
    return activitiesFor(step, queues).runStep(task(id, step, resolved));
  };

  const task = (id: string, step: Step, resolved: unknown, index?: number): StepTask => ({
    runId: info.workflowId,
    pipeline: def.name,
    stepId: id,
    index,
    uses: step.uses,
    with: resolved,
    cache: step.cache === true,
  });

  const awaitApproval = async (id: string, step: Step): Promise<StepResult> => {
    const s = status.steps[id];
    const startedAt = new Date().toISOString();
    s.waitingFor = 'approval';
    const w = resolve(step.with ?? {}, context(), id) as { timeout?: string | number };
    const decided = () => decisions.has(id);
    const timeoutMs = w.timeout !== undefined ? parseDuration(w.timeout) : undefined;
    const inTime = timeoutMs !== undefined ? await condition(decided, timeoutMs) : (await condition(decided), true);
    s.waitingFor = undefined;
    if (!inTime) {
      throw ApplicationFailure.create({
        type: ErrorTypes.ApprovalTimedOut,
        message: `approval step "${id}" got no decision within ${w.timeout}`,
        nonRetryable: true,
      });
    }
    const d = decisions.get(id)!;
    s.approval = { decision: d.decision, by: d.by, comment: d.comment };
    if (d.decision === 'rejected') {
      throw ApplicationFailure.create({
        type: ErrorTypes.ApprovalRejected,
        message: `approval step "${id}" was rejected${d.by ? ` by ${d.by}` : ''}${d.comment ? `: ${d.comment}` : ''}`,
        nonRetryable: true,
      });
    }
    return {
      outputs: { approved: true, by: d.by ?? null, comment: d.comment ?? null },
      attempt: 1,
      cached: false,
      startedAt,
      endedAt: new Date().toISOString(),
    };
  };

  const runForEach = async (id: string, step: Step): Promise<StepResult> => {
    const s = status.steps[id];
    const startedAt = new Date().toISOString();
    const items = resolve(step.forEach, context(), id);
    if (!Array.isArray(items)) {
      throw ApplicationFailure.create({
        type: ErrorTypes.ExpressionFailed,
        message: `step "${id}": forEach must evaluate to a list, got ${typeof items}`,
        nonRetryable: true,
      });
    }
    const concurrency = Math.max(1, step.concurrency ?? items.length);
    s.items = { done: 0, total: items.length };
    let results: unknown[];
    let attempt = 1;
    if (items.length > FOR_EACH_BATCH) {
      // Large fan-outs run in child workflows of at most FOR_EACH_BATCH items, one batch at a time, so that
      // the concurrency limit holds and no single history grows with the list.
      results = [];
      for (let start = 0; start < items.length; start += FOR_EACH_BATCH) {
        const slice = items.slice(start, start + FOR_EACH_BATCH);
        const batch = await executeChild(forEachBatch, {
          args: [{ step, stepId: id, offset: start, items: slice, context: context(), queues, pipeline: def.name }],
          workflowId: `${info.workflowId}/${id}/${start}`,
          taskQueue: info.taskQueue,
        });
        results.push(...batch.outputs);
        attempt = Math.max(attempt, batch.attempt);
        s.items.done += slice.length;
      }
    } else {
      const out = await mapWithConcurrency(items, concurrency, async (item, i) => {
        const r = await activitiesFor(step, queues).runStep(
          task(id, step, resolve(step.with ?? {}, context({ item }), id), i),
        );
        s.items!.done++;
        attempt = Math.max(attempt, r.attempt);
        return r.outputs;
      });
      results = out;
    }
    return { outputs: results, attempt, cached: false, startedAt, endedAt: new Date().toISOString() };
  };

  try {
    // The interpreter loop: start what is ready, wait for something to settle, repeat.
    for (;;) {
      const candidates = order.filter((id) => dirty.has(id));
      dirty = new Set();
      for (const id of candidates) {
        if (status.steps[id].state !== 'pending') continue;
        const needs = needsOf(def, id).map((n) => status.steps[n].state);
        if (needs.some((n) => BLOCKING_STATES.includes(n))) {
          skip(id); // a need failed or was skipped: so is this step
          continue;
        }
        if (failure || !needs.every((n) => SUCCESS_STATES.includes(n))) continue;
        const step = def.steps[id];
        if (step.if !== undefined && !truthy(resolve(step.if, context(), id))) {
          skip(id);
          continue;
        }
        const scope = new CancellationScope();
        const promise = scope.run(() => execute(id, step)).finally(() => inFlight.delete(id));
        inFlight.set(id, { promise, scope });
      }
      // A skip may have blocked more steps.
      if (dirty.size && !inFlight.size) continue;
      if (!inFlight.size) break;
      await Promise.race([...inFlight.values()].map((f) => f.promise));
      if (failure) {
        // Fail fast: stop what is still running, then roll back everything that completed.
        for (const f of inFlight.values()) f.scope.cancel();
      }
    }
    if (failure) throw failure.error;

    const result: PipelineResult = {
      runId: info.workflowId,
      pipeline: def.name,
      outputs: def.outputs ? (resolve(def.outputs, context(), '(outputs)') as Record<string, unknown>) : {},
      steps: Object.fromEntries(
        Object.entries(status.steps).map(([id, s]) => [id, { state: s.state, outputs: outputs[id] }]),
      ),
    };
    finish('succeeded');
    return result;
  } catch (err) {
    const cancelled = isCancellation(err);
    status.error = { ...describeError(err), step: failure?.step };
    await CancellationScope.nonCancellable(async () => {
      // Wait for cancelled steps to stop before compensating what they depend on.
      await Promise.allSettled([...inFlight.values()].map((f) => f.promise));
      status.state = 'rollingBack';
      for (const c of [...compensations].reverse()) await compensate(c);
    });
    finish(cancelled ? 'cancelled' : 'failed');
    throw err;
  }

  async function compensate({ stepId, step }: Compensation): Promise<void> {
    const rb = step.rollback!;
    const s = status.steps[stepId];
    try {
      const resolved = resolve(rb.with ?? {}, context(), `${stepId}.rollback`);
      const acts = activitiesFor({ ...step, ...rb, retry: rb.retry, queue: step.queue } as Step, queues, rollbackRetry);
      await acts.runStep({ ...task(stepId, { ...step, uses: rb.uses, cache: false }, resolved), rollback: true });
      s.rollback = { state: 'succeeded', endedAt: new Date().toISOString() };
      s.state = 'rolledBack';
    } catch (err) {
      // A failed compensation is recorded and the others still run; the run fails with the original cause.
      s.rollback = { state: 'failed', error: describeError(err).message, endedAt: new Date().toISOString() };
    }
    status.rolledBack.push(stepId);
  }

  function finish(state: 'succeeded' | 'failed' | 'cancelled') {
    status.state = state;
    status.endedAt = new Date().toISOString();
    upsertSearchAttributes({ [keys.status]: [state] });
  }
}

export interface ForEachBatchInput {
  pipeline: string;
  stepId: string;
  step: Step;
  offset: number;
  items: unknown[];
  context: Record<string, unknown>;
  queues: Queues;
}

/** Runs one slice of a large forEach (see FOR_EACH_BATCH); outputs come back in input order. */
export async function forEachBatch(input: ForEachBatchInput): Promise<{ outputs: unknown[]; attempt: number }> {
  const info = workflowInfo();
  const runId = info.parent?.workflowId ?? info.workflowId;
  let attempt = 1;
  const acts = activitiesFor(input.step, input.queues);
  const outputs = await mapWithConcurrency(
    input.items,
    Math.max(1, input.step.concurrency ?? input.items.length),
    async (item, i) => {
      const resolved = resolve(input.step.with ?? {}, { ...input.context, item }, input.stepId);
      const r = await acts.runStep({
        runId,
        pipeline: input.pipeline,
        stepId: input.stepId,
        index: input.offset + i,
        uses: input.step.uses,
        with: resolved,
        cache: input.step.cache === true,
      });
      attempt = Math.max(attempt, r.attempt);
      return r.outputs;
    },
  );
  return { outputs, attempt };
}

/** Activity stubs carrying the step's own policy: queue, timeouts, retries. */
function activitiesFor(step: Step, queues: Queues, retryDefaults = defaultRetry) {
  const gpu = queueOf(step, step.uses) === 'gpu';
  const profile = gpu ? gpuStep : cpuStep;
  const r = step.retry;
  const options: ActivityOptions = {
    ...profile,
    taskQueue: gpu ? queues.gpu : queues.cpu,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    ...(step.timeout !== undefined ? { startToCloseTimeout: parseDuration(step.timeout) } : {}),
    ...(step.heartbeat !== undefined ? { heartbeatTimeout: parseDuration(step.heartbeat) } : {}),
    retry: {
      maximumAttempts: r?.maxAttempts ?? retryDefaults.maximumAttempts,
      initialInterval:
        r?.initialInterval !== undefined ? parseDuration(r.initialInterval) : retryDefaults.initialInterval,
      backoffCoefficient: r?.backoff ?? retryDefaults.backoffCoefficient,
      maximumInterval:
        r?.maximumInterval !== undefined ? parseDuration(r.maximumInterval) : retryDefaults.maximumInterval,
      nonRetryableErrorTypes: [...permanentErrorTypes, ...(r?.nonRetryable ?? [])],
    },
  };
  return proxyActivities<Activities>(options);
}

function queueOf(step: Step, uses: string): 'cpu' | 'gpu' | 'workflow' {
  if (uses === 'approval' || uses === 'pipeline') return 'workflow';
  return step.queue === 'gpu' || (step.resources?.gpu ?? 0) > 0 ? 'gpu' : 'cpu';
}

/** Evaluates `${{ }}` templates; an evaluation error fails the step for good, naming it. */
function resolve(value: unknown, ctx: Record<string, unknown>, where: string): unknown {
  try {
    return evaluateTemplate(value, ctx);
  } catch (err) {
    throw ApplicationFailure.create({
      type: ErrorTypes.ExpressionFailed,
      message: `step "${where}": ${(err as Error).message}`,
      nonRetryable: true,
    });
  }
}

const truthy = (v: unknown) => Boolean(v) && !(Array.isArray(v) && v.length === 0);

function summarize(outputs: unknown): string | undefined {
  if (outputs === undefined || outputs === null) return undefined;
  const json = JSON.stringify(outputs);
  return json.length > 200 ? `${json.slice(0, 197)}...` : json;
}

function describeError(err: unknown): { type?: string; message: string } {
  // Unwrap ActivityFailure / ChildWorkflowFailure to the cause a user wrote or a step raised.
  let e = err as { cause?: unknown; type?: string; message?: string; name?: string };
  while (e?.cause && (e.name === 'ActivityFailure' || e.name === 'ChildWorkflowFailure')) e = e.cause as typeof e;
  return { type: e?.type ?? (isCancellation(err) ? 'Cancelled' : undefined), message: e?.message ?? String(err) };
}

function attemptOf(err: unknown): number {
  // Steps attach the attempt number to their failures (activities/run-step.ts).
  let e = err as { cause?: unknown; details?: unknown[] };
  while (e) {
    const d = e.details?.[0] as { attempt?: number } | undefined;
    if (typeof d?.attempt === 'number') return d.attempt;
    e = e.cause as typeof e;
  }
  return 1;
}

async function mapWithConcurrency<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  });
  await Promise.all(lanes);
  return results;
}
