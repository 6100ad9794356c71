import { Client, Connection, WorkflowExecutionAlreadyStartedError, type WorkflowHandle } from '@temporalio/client';
import { loadConfig, type MlpipeConfig } from '../config/env';
import { temporalConnectionOptions } from './connection';
import type { PipelineInput, PipelineResult, RunStatus } from '../workflows/types';
import type { ApprovalDecision } from '../workflows/definitions';
import type { PipelineParams } from '../definitions/define';
import {
  defaultPipelineDirs,
  findPipeline,
  formatIssues,
  resolveParams,
  validateDefinition,
} from '../definitions/node';
import { ModelsClient } from './models';

export interface ConnectOptions {
  /** @default TEMPORAL_ADDRESS or 127.0.0.1:7233 */
  address?: string;
  /** @default TEMPORAL_NAMESPACE or default */
  namespace?: string;
  /** @default MLPIPE_TASK_QUEUE or mlpipe */
  taskQueue?: string;
  /** Full config (TLS, API key); read from the environment when omitted. */
  config?: MlpipeConfig;
}

export interface StartOptions {
  /** The same key twice starts one run: it becomes the workflow id. */
  idempotencyKey?: string;
  /** Explicit run id (workflow id); defaults to `<pipeline>-<random>`. */
  runId?: string;
  /** Inline definition (e.g. loaded from a local file) instead of a name known to the workers. */
  definition?: unknown;
  /** Recorded in the MlpipeTrigger search attribute. @default api */
  trigger?: string;
}

/** Thrown before anything starts when the definition or the params are invalid; `issues` lists every problem. */
export class RunInputInvalid extends Error {
  override readonly name = 'RunInputInvalid';
  constructor(
    message: string,
    readonly issues: string[],
  ) {
    super(`${message}:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
  }
}

/** A started (or existing) pipeline run. */
export class RunHandle {
  constructor(
    readonly runId: string,
    private readonly handle: WorkflowHandle,
  ) {}

  /** Per-step state, attempts, outputs summary, what was rolled back. */
  status(): Promise<RunStatus> {
    return this.handle.query<RunStatus>('status');
  }

  /** Waits for the run to end; rejects with the run's failure. */
  result(): Promise<PipelineResult> {
    return this.handle.result() as Promise<PipelineResult>;
  }

  /** Cancels the run: in-flight steps stop, completed steps are rolled back in reverse order. */
  async cancel(): Promise<void> {
    await this.handle.cancel();
  }

  async approve(step: string, opts: Omit<ApprovalDecision, 'step'> = {}): Promise<void> {
    await this.handle.signal('approve', { step, ...opts });
  }

  async reject(step: string, opts: Omit<ApprovalDecision, 'step'> = {}): Promise<void> {
    await this.handle.signal('reject', { step, ...opts });
  }

  /** Temporal's own view: RUNNING, COMPLETED, FAILED, ... */
  async describe() {
    return this.handle.describe();
  }
}

/**
 * Starts and follows pipeline runs from your own services.
 *
 * @example
 * const mlpipe = await MlpipeClient.connect();
 * const run = await mlpipe.start('flights-delay', { minAuc: 0.7 }, { idempotencyKey: 'nightly-2026-11-27' });
 * console.log((await run.result()).outputs);
 */
export class MlpipeClient {
  private constructor(
    readonly client: Client,
    private readonly connection: Connection,
    readonly taskQueue: string,
    /** Model registry: list, show, promote, history. */
    readonly models: ModelsClient,
    private readonly pipelineDirs: string[],
  ) {}

  static async connect(opts: ConnectOptions = {}): Promise<MlpipeClient> {
    const config = opts.config ?? loadConfig();
    const conn = temporalConnectionOptions(config.temporal, opts.address ?? config.temporal.address);
    const connection = await Connection.connect(conn);
    const client = new Client({ connection, namespace: opts.namespace ?? config.temporal.namespace });
    return new MlpipeClient(
      client,
      connection,
      opts.taskQueue ?? config.queues.workflows,
      ModelsClient.fromConfig({ config }),
      [...config.pipelinePath, ...defaultPipelineDirs()],
    );
  }

  /**
   * Starts a run of a definition written in TypeScript (`definePipeline`): its params are type-checked.
   *
   * @example
   * const train = definePipeline({ name: 'train', params: { minAuc: { type: 'number', default: 0.7 } }, steps: {...} });
   * await mlpipe.startDefinition(train, { minAuc: 0.8 });
   */
  startDefinition<D extends { name: string }>(definition: D, params: PipelineParams<D>, opts: StartOptions = {}) {
    return this.start(definition.name, params as Record<string, unknown>, { ...opts, definition });
  }

  /** Starts a run of a pipeline; with an idempotency key, a second start returns the first run. */
  async start(pipeline: string, params: Record<string, unknown> = {}, opts: StartOptions = {}): Promise<RunHandle> {
    params = await this.checkInput(pipeline, params, opts.definition);
    const runId =
      opts.runId ?? (opts.idempotencyKey ? `${pipeline}-${opts.idempotencyKey}` : undefined) ?? newRunId(pipeline);
    const input: PipelineInput = opts.definition ? { definition: opts.definition, params } : { pipeline, params };
    try {
      const handle = await this.client.workflow.start('pipeline', {
        taskQueue: this.taskQueue,
        workflowId: runId,
        // An idempotency key must never start a second run, even after the first one has ended.
        ...(opts.idempotencyKey ? { workflowIdReusePolicy: 'REJECT_DUPLICATE' as const } : {}),
        args: [input],
        searchAttributes: runSearchAttributes(pipeline, opts.trigger ?? 'api'),
      });
      return new RunHandle(runId, handle);
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError && opts.idempotencyKey) {
        return new RunHandle(runId, this.client.workflow.getHandle(runId));
      }
      throw err;
    }
  }

  /**
   * Validates the definition (given, or found in this process's pipeline folders) and types the params, so a bad
   * input fails here, before anything starts. A pipeline only the workers know is checked by them at start.
   */
  private async checkInput(pipeline: string, params: Record<string, unknown>, definition?: unknown) {
    let def = definition;
    if (def === undefined) {
      const found = await findPipeline(pipeline, this.pipelineDirs);
      if (!found) return params;
      if (!found.ok) throw new RunInputInvalid(`pipeline "${pipeline}" is invalid`, [formatIssues(found.issues)]);
      def = found.definition;
    }
    const checked = validateDefinition(def);
    if (!checked.ok) throw new RunInputInvalid(`pipeline "${pipeline}" is invalid`, [formatIssues(checked.issues)]);
    const typed = resolveParams(checked.definition, params);
    if (!typed.ok) throw new RunInputInvalid(`bad params for pipeline "${pipeline}"`, typed.issues);
    return typed.params;
  }

  /** A handle on an existing run. */
  run(runId: string): RunHandle {
    return new RunHandle(runId, this.client.workflow.getHandle(runId));
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

/** Search attributes of a new pipeline run, as every starter sets them (the Web UI and `mlpipe runs list` filter on them). */
export const runSearchAttributes = (pipeline: string, trigger: string) => ({
  MlpipePipeline: [pipeline],
  MlpipeStatus: ['running'],
  MlpipeTrigger: [trigger],
});

function newRunId(pipeline: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  return `${pipeline}-${stamp}-${Math.random().toString(36).slice(2, 8)}`;
}
