import type { ArtifactStore } from '../../storage/artifact-store';
import type { ModelRegistry } from '../../storage/registry';
import type { GpuSlots } from '../../workers/gpu';
import type { StepTask } from '../../workflows/types';

/** What a step implementation gets besides its resolved `with`. */
export interface StepContext {
  task: StepTask;
  attempt: number;
  store: ArtifactStore;
  /** The model registry (on the same S3 bucket), for steps that register and promote. */
  registry?: ModelRegistry;
  /** Key prefix for this attempt's artifacts: runs/<run>/<step>[/<index>]/attempt-<n>. */
  artifactPrefix: string;
  /** Aborted when the run cancels this step (requires heartbeats to be delivered). */
  signal: AbortSignal;
  heartbeat(details?: unknown): void;
  /** Details of the last heartbeat of a previous attempt (resume from its checkpoint), if any. */
  resumeFrom?: unknown;
  /** Present on the GPU worker: hold a slot for the duration of GPU work. */
  gpuSlots?: GpuSlots;
}

export type StepHandler = (input: any, ctx: StepContext) => Promise<unknown>;
