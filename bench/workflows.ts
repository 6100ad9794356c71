// Workflow bundle of the DAG benchmark: the real interpreter beside hand-written equivalents.
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';

export { pipeline, forEachBatch } from '../workflows/pipeline';

const acts = (taskQueue: string) =>
  proxyActivities<Activities>({
    taskQueue,
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '1 minute',
    retry: { maximumAttempts: 3, initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
  });

/** What a person would write by hand for an n-step chain of no-op steps. */
export async function handChain(n: number, cpuQueue: string): Promise<unknown> {
  const { runStep } = acts(cpuQueue);
  const runId = workflowInfo().workflowId;
  let prev: unknown = null;
  for (let i = 0; i < n; i++) {
    const r = await runStep({
      runId,
      pipeline: 'chain',
      stepId: `s${i}`,
      uses: 'echo',
      with: { i, prev },
      cache: false,
    });
    prev = (r.outputs as { i: number }).i;
  }
  return prev;
}

/** ... and for a root, n parallel leaves, and a join. */
export async function handFanout(n: number, cpuQueue: string): Promise<number> {
  const { runStep } = acts(cpuQueue);
  const runId = workflowInfo().workflowId;
  const task = (stepId: string, w: unknown) => ({
    runId,
    pipeline: 'fanout',
    stepId,
    uses: 'echo',
    with: w,
    cache: false,
  });
  await runStep(task('root', { v: 0 }));
  const leaves = await Promise.all(Array.from({ length: n }, (_, i) => runStep(task(`leaf${i}`, { i }))));
  await runStep(task('join', { n: leaves.length }));
  return leaves.length;
}
