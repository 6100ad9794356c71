import { Client, Connection, WorkflowExecutionAlreadyStartedError, type WorkflowHandle } from '@temporalio/client';
import { loadConfig, type MlpipeConfig } from '../config/env';
import { temporalConnectionOptions } from './connection';
import type { PipelineInput, PipelineResult, RunStatus } from '../workflows/types';
import type { ApprovalDecision } from '../workflows/definitions';

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
  ) {}

  static async connect(opts: ConnectOptions = {}): Promise<MlpipeClient> {
    const config = opts.config ?? loadConfig();
    const conn = temporalConnectionOptions(config.temporal, opts.address ?? config.temporal.address);
    const connection = await Connection.connect(conn);
    const client = new Client({ connection, namespace: opts.namespace ?? config.temporal.namespace });
    return new MlpipeClient(client, connection, opts.taskQueue ?? config.queues.workflows);
  }

  /** Starts a run of a pipeline; with an idempotency key, a second start returns the first run. */
  async start(pipeline: string, params: Record<string, unknown> = {}, opts: StartOptions = {}): Promise<RunHandle> {
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
        searchAttributes: {
          MlpipePipeline: [pipeline],
          MlpipeStatus: ['running'],
          MlpipeTrigger: [opts.trigger ?? 'api'],
        },
      });
      return new RunHandle(runId, handle);
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError && opts.idempotencyKey) {
        return new RunHandle(runId, this.client.workflow.getHandle(runId));
      }
      throw err;
    }
  }

  /** A handle on an existing run. */
  run(runId: string): RunHandle {
    return new RunHandle(runId, this.client.workflow.getHandle(runId));
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

function newRunId(pipeline: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  return `${pipeline}-${stamp}-${Math.random().toString(36).slice(2, 8)}`;
}
