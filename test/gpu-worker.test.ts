import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { ManagedProcess } from '../cli/processes';
import { discoverGpus } from '../workers/gpu';

describe('the GPU worker on a machine without GPUs', () => {
  it('refuses GPU work unless started with --cpu-fallback, and says how', async () => {
    expect(await discoverGpus()).toEqual([]); // the test machines have no NVIDIA GPU
    const worker = new ManagedProcess({
      name: 'gpu-worker',
      command: process.execPath,
      args: [path.join(__dirname, '..', 'bin', 'mlpipe.js'), 'worker', '--role', 'gpu'],
      env: { ...process.env, ...inject('stack').env, MLPIPE_GPU_CPU_FALLBACK: 'false' },
    });
    const { code } = await worker.exited;
    expect(code).toBe(1);
    expect(worker.tail()).toContain('the GPU worker found no GPU (nvidia-smi lists none) and refuses GPU work');
    expect(worker.tail()).toContain('--cpu-fallback');
  });
});
