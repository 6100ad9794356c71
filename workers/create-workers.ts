import os from 'node:os';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { discoverGpus, GpuSlots } from './gpu';

export type WorkerRole = 'orchestrator' | 'cpu' | 'gpu';
export const WORKER_ROLES: readonly WorkerRole[] = ['orchestrator', 'cpu', 'gpu'];

export interface CreateWorkersOptions {
  connection: NativeConnection;
  namespace: string;
  queues: { workflows: string; cpu: string; gpu: string };
  roles: readonly WorkerRole[];
  /** Run GPU steps on a machine without GPUs. @default false */
  gpuCpuFallback?: boolean;
  /** Concurrent activities on the CPU worker. @default number of cores */
  cpuConcurrency?: number;
  /** Shared dependencies of the activities (store, pipeline folders, code version). */
  deps: Pick<ActivityDeps, 'store' | 'registry' | 'pipelineDirs' | 'codeVersion'>;
  /** Prebuilt workflow bundle (tests build it once); by default the workflows folder is bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  log?: (msg: string) => void;
}

/** Thrown by the GPU worker on a machine without GPUs unless CPU fallback was asked for. */
export class NoGpuFound extends Error {
  override readonly name = 'NoGpuFound';
}

/**
 * Creates the workers for the given roles on one shared connection. `mlpipe dev` runs all three in one process;
 * production runs each role in its own process (`mlpipe worker --role ...`) and scales them separately.
 */
export async function createWorkers(opts: CreateWorkersOptions): Promise<Worker[]> {
  const log = opts.log ?? (() => {});
  const host = os.hostname();
  const workers: Worker[] = [];
  for (const role of opts.roles) {
    const identity = `${role}@${host}:${process.pid}`;
    if (role === 'orchestrator') {
      workers.push(
        await Worker.create({
          connection: opts.connection,
          namespace: opts.namespace,
          taskQueue: opts.queues.workflows,
          identity,
          ...(opts.workflowBundle
            ? { workflowBundle: opts.workflowBundle }
            : { workflowsPath: require.resolve('../workflows') }),
        }),
      );
    } else if (role === 'cpu') {
      workers.push(
        await Worker.create({
          connection: opts.connection,
          namespace: opts.namespace,
          taskQueue: opts.queues.cpu,
          identity,
          activities: createActivities({ ...opts.deps, role: 'cpu', identity, queues: opts.queues }),
          maxConcurrentActivityTaskExecutions: opts.cpuConcurrency ?? os.availableParallelism(),
          // Checkpoints travel in heartbeat details: keep what the server holds at most a few seconds old.
          maxHeartbeatThrottleInterval: '5 seconds',
        }),
      );
    } else {
      const gpus = await discoverGpus();
      if (!gpus.length && !opts.gpuCpuFallback) {
        throw new NoGpuFound(
          'the GPU worker found no GPU (nvidia-smi lists none) and refuses GPU work; ' +
            'start it with --cpu-fallback (MLPIPE_GPU_CPU_FALLBACK=true) to run GPU steps on the CPU',
        );
      }
      const slots = new GpuSlots(gpus, 1);
      log(
        gpus.length
          ? `GPU worker: ${gpus.length} GPU(s): ${gpus.map((g) => `${g.index} ${g.name}`).join(', ')}`
          : 'GPU worker: no GPU found; running GPU steps on the CPU (fallback)',
      );
      workers.push(
        await Worker.create({
          connection: opts.connection,
          namespace: opts.namespace,
          taskQueue: opts.queues.gpu,
          identity,
          activities: createActivities({ ...opts.deps, role: 'gpu', identity, queues: opts.queues, gpuSlots: slots }),
          // At most one GPU step per GPU; the slot pool hands each its CUDA_VISIBLE_DEVICES.
          // Light activities (bookkeeping) are not slotted, so allow a few beyond the GPU count.
          maxConcurrentActivityTaskExecutions: slots.size + 4,
          maxHeartbeatThrottleInterval: '5 seconds',
        }),
      );
    }
  }
  return workers;
}
