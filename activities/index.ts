import { createSystemActivities, type WorkerIdentity } from './system';
import type { GpuSlots } from '../workers/gpu';

export interface ActivityDeps extends WorkerIdentity {
  /** GPU slot pool of the GPU worker (one GPU step per GPU). */
  gpuSlots?: GpuSlots;
}

/** Every activity, wired to its dependencies. Workers call this; workflows only see the type. */
export const createActivities = (deps: ActivityDeps) => ({
  ...createSystemActivities(deps),
});

export type Activities = ReturnType<typeof createActivities>;
