import { createSystemActivities, type WorkerIdentity } from './system';
import { createRunStepActivities } from './run-step';
import { createPrepareActivities } from './prepare';
import { createMonitorActivities } from './monitor';
import type { ArtifactStore } from '../storage/artifact-store';
import type { ModelRegistry } from '../storage/registry';
import type { GpuSlots } from '../workers/gpu';
import type { Queues } from '../workflows/types';

export interface ActivityDeps extends WorkerIdentity {
  store: ArtifactStore;
  registry?: ModelRegistry;
  queues: Queues;
  pipelineDirs: string[];
  codeVersion: string;
  /** GPU slot pool of the GPU worker (one GPU step per GPU). */
  gpuSlots?: GpuSlots;
}

/** Every activity, wired to its dependencies. Workers call this; workflows only see the type. */
export const createActivities = (deps: ActivityDeps) => ({
  ...createSystemActivities(deps),
  ...createPrepareActivities(deps),
  ...createRunStepActivities({ ...deps, gpuQueue: deps.queues.gpu }),
  ...createMonitorActivities(deps),
});

export type Activities = ReturnType<typeof createActivities>;
