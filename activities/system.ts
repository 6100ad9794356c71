import os from 'node:os';
import { activityInfo } from '@temporalio/activity';

export interface WorkerIdentity {
  /** The activity worker's role: which queue family it serves. */
  role: 'cpu' | 'gpu';
  /** Worker identity as Temporal records it. */
  identity: string;
}

/** Diagnostics activities: which worker ran this? Used by the smoke workflow and `mlpipe doctor`-style checks. */
export const createSystemActivities = (deps: WorkerIdentity) => ({
  async whoAmI(): Promise<{ role: string; taskQueue: string; identity: string; pid: number; host: string }> {
    return {
      role: deps.role,
      taskQueue: activityInfo().taskQueue,
      identity: deps.identity,
      pid: process.pid,
      host: os.hostname(),
    };
  },
});
