import { createHash } from 'node:crypto';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { ArtifactStore } from '../storage/artifact-store';
import type { ModelRegistry } from '../storage/registry';
import type { GpuSlots } from '../workers/gpu';
import type { StepResult, StepTask } from '../workflows/types';
import { ErrorTypes } from '../workflows/errors';
import { stepHandlers } from './steps';

/** Step outputs travel in Temporal payloads: keep them small (artifacts carry the rest). */
export const MAX_OUTPUT_BYTES = 256 * 1024;

export interface RunStepDeps {
  store: ArtifactStore;
  registry?: ModelRegistry;
  /** Part of every cache key: a new mlpipe version never reuses an old step result. */
  codeVersion: string;
  gpuSlots?: GpuSlots;
  /** The GPU worker's queue: only tasks from it take a GPU slot. */
  gpuQueue?: string;
}

/** Key of a cacheable step: its type, resolved inputs and the code version. */
export function cacheKey(task: Pick<StepTask, 'uses' | 'with'>, codeVersion: string): string {
  return createHash('sha256')
    .update(canonicalJson({ uses: task.uses, with: task.with, codeVersion }))
    .digest('hex');
}

/** JSON with sorted keys, so equal inputs hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export const createRunStepActivities = (deps: RunStepDeps) => ({
  /** Runs one step (or forEach item, or rollback) by its `uses`, with caching, output limits and attempt info. */
  async runStep(task: StepTask): Promise<StepResult> {
    const ctx = Context.current();
    const attempt = ctx.info.attempt;
    const startedAt = new Date().toISOString();
    const handler = stepHandlers[task.uses];
    if (!handler) {
      throw ApplicationFailure.create({
        type: ErrorTypes.StepInputInvalid,
        message: `step "${task.stepId}": this worker has no step type "${task.uses}"`,
        nonRetryable: true,
      });
    }
    const key = task.cache && !task.rollback ? cacheKey(task, deps.codeVersion) : undefined;
    if (key) {
      const hit = await deps.store.tryGet(`cache/${key}.json`);
      if (hit) {
        const { outputs } = JSON.parse(hit.toString()) as { outputs: unknown };
        return { outputs, attempt, cached: true, startedAt, endedAt: new Date().toISOString() };
      }
    }
    const where = `runs/${task.runId}/${task.stepId}${task.index !== undefined ? `/${task.index}` : ''}`;
    let outputs: unknown;
    try {
      outputs = await handler(task.with, {
        task,
        attempt,
        store: deps.store,
        registry: deps.registry,
        artifactPrefix: `${where}/${task.rollback ? 'rollback-' : ''}attempt-${attempt}`,
        signal: ctx.cancellationSignal,
        heartbeat: (d) => ctx.heartbeat(d),
        resumeFrom: ctx.info.heartbeatDetails,
        gpuSlots: deps.gpuQueue && ctx.info.taskQueue === deps.gpuQueue ? deps.gpuSlots : undefined,
      });
    } catch (err) {
      throw withAttempt(err, attempt);
    }
    const size = Buffer.byteLength(JSON.stringify(outputs ?? null));
    if (size > MAX_OUTPUT_BYTES) {
      throw ApplicationFailure.create({
        type: ErrorTypes.StepOutputTooLarge,
        message:
          `step "${task.stepId}" returned ${Math.ceil(size / 1024)} KB of outputs, over the ` +
          `${MAX_OUTPUT_BYTES / 1024} KB limit: write large results to an artifact and return its URI instead`,
        nonRetryable: true,
        details: [{ attempt }],
      });
    }
    if (key) await deps.store.put(`cache/${key}.json`, JSON.stringify({ outputs, task: task.stepId, startedAt }));
    return { outputs: outputs ?? null, attempt, cached: false, startedAt, endedAt: new Date().toISOString() };
  },
});

/** Re-raises a step's error with the attempt number attached, keeping its type and retryability. */
function withAttempt(err: unknown, attempt: number): unknown {
  if (err instanceof CancelledFailure) return err;
  if (err instanceof ApplicationFailure) {
    return ApplicationFailure.create({
      type: err.type ?? undefined,
      message: err.message,
      nonRetryable: err.nonRetryable ?? undefined,
      details: [{ attempt }, ...(err.details ?? [])],
      cause: err.cause,
    });
  }
  const e = err as Error;
  return ApplicationFailure.create({
    type: e?.name ?? 'Error',
    message: e?.message ?? String(err),
    details: [{ attempt }],
  });
}
