import type { Pipeline } from '../definitions/schema';

/** Input of workflow type `pipeline` (what the Web UI's Start Workflow form takes). */
export interface PipelineInput {
  /** Name of a pipeline known to the workers (definitions/pipelines, ./pipelines). */
  pipeline?: string;
  /** Or the definition itself (e.g. `mlpipe run ./my.yaml`); validated on the worker. */
  definition?: unknown;
  params?: Record<string, unknown>;
  /** Override the task queues (tests, multi-tenant setups). */
  queues?: Partial<Queues>;
}

export interface Queues {
  workflows: string;
  cpu: string;
  gpu: string;
}

import type { StepState } from '../definitions/plan';
export type { StepState };

export interface StepStatus {
  state: StepState;
  uses: string;
  queue: 'cpu' | 'gpu' | 'workflow';
  attempts: number;
  startedAt?: string;
  endedAt?: string;
  /** Short JSON preview of the outputs. */
  outputsSummary?: string;
  error?: { type?: string; message: string };
  /** forEach: items done / total. */
  items?: { done: number; total: number };
  /** Waiting for an approval signal. */
  waitingFor?: 'approval';
  approval?: { decision: 'approved' | 'rejected'; by?: string; comment?: string };
  rollback?: { state: 'succeeded' | 'failed'; error?: string; endedAt: string };
}

export interface RunStatus {
  runId: string;
  pipeline: string;
  state: 'starting' | 'running' | 'rollingBack' | 'succeeded' | 'failed' | 'cancelled';
  params: Record<string, unknown>;
  startedAt: string;
  endedAt?: string;
  steps: Record<string, StepStatus>;
  /** Step ids in the order their rollbacks ran. */
  rolledBack: string[];
  error?: { type?: string; message: string; step?: string };
}

export interface PipelineResult {
  runId: string;
  pipeline: string;
  outputs: Record<string, unknown>;
  steps: Record<string, { state: StepState; outputs?: unknown }>;
}

/** What the interpreter asks a worker to run: one step (or one forEach item, or one rollback). */
export interface StepTask {
  runId: string;
  pipeline: string;
  stepId: string;
  /** forEach item index. */
  index?: number;
  uses: string;
  with: unknown;
  cache: boolean;
  /** Set when this task is the rollback of `stepId`. */
  rollback?: boolean;
}

export interface StepResult {
  outputs: unknown;
  attempt: number;
  cached: boolean;
  startedAt: string;
  endedAt: string;
}

export interface PreparedRun {
  definition: Pipeline;
  params: Record<string, unknown>;
  queues: Queues;
}
