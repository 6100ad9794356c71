import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { queues } from './queues';

export interface SmokeInput {
  cpuQueue?: string;
  gpuQueue?: string;
}

/** Runs one activity on the CPU queue and one on the GPU queue and returns which worker ran each. */
export async function smoke(input: SmokeInput = {}) {
  const cpu = proxyActivities<Activities>({ taskQueue: input.cpuQueue ?? queues.cpu, startToCloseTimeout: '1 minute' });
  const gpu = proxyActivities<Activities>({ taskQueue: input.gpuQueue ?? queues.gpu, startToCloseTimeout: '1 minute' });
  const [onCpu, onGpu] = await Promise.all([cpu.whoAmI(), gpu.whoAmI()]);
  return { cpu: onCpu, gpu: onGpu };
}
