import { execFile } from 'node:child_process';

export interface GpuDevice {
  index: number;
  name: string;
  uuid: string;
  memoryMiB: number;
}

/** Lists NVIDIA GPUs with nvidia-smi; an empty list when there is no driver or no GPU. */
export function discoverGpus(nvidiaSmi = 'nvidia-smi'): Promise<GpuDevice[]> {
  return new Promise((resolve) => {
    execFile(
      nvidiaSmi,
      ['--query-gpu=index,name,uuid,memory.total', '--format=csv,noheader,nounits'],
      { timeout: 15_000 },
      (err, stdout) => {
        if (err) return resolve([]);
        const gpus = stdout
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((line) => {
            const [index, name, uuid, mem] = line.split(',').map((s) => s.trim());
            return { index: Number(index), name, uuid, memoryMiB: Number(mem) };
          })
          .filter((g) => Number.isInteger(g.index));
        resolve(gpus);
      },
    );
  });
}

/**
 * One slot per GPU: a GPU step holds a slot for its whole run, so no two GPU steps share a device.
 * In CPU-fallback mode there are `fallbackSlots` slots with no device behind them.
 */
export class GpuSlots {
  private readonly free: (number | null)[];
  private readonly waiters: ((slot: number | null) => void)[] = [];

  constructor(
    readonly devices: GpuDevice[],
    fallbackSlots = 1,
  ) {
    this.free = devices.length ? devices.map((d) => d.index) : Array.from({ length: fallbackSlots }, () => null);
  }

  get size(): number {
    return this.devices.length || this.free.length + this.waiters.length;
  }

  /** Waits for a free GPU; resolves to its index (null in CPU fallback). */
  acquire(): Promise<number | null> {
    if (this.free.length) return Promise.resolve(this.free.shift()!);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(slot: number | null): void {
    const next = this.waiters.shift();
    if (next) next(slot);
    else this.free.push(slot);
  }

  /** Runs `fn` holding a slot; passes the CUDA_VISIBLE_DEVICES value ('' in CPU fallback). */
  async with<T>(fn: (cudaVisibleDevices: string) => Promise<T>): Promise<T> {
    const slot = await this.acquire();
    try {
      return await fn(slot === null ? '' : String(slot));
    } finally {
      this.release(slot);
    }
  }
}
