import { loadConfig, DEFAULT_TEMPORAL_ADDRESS, type MlpipeConfig } from '../config/env';
import { runWorkers } from '../workers/run-workers';
import type { WorkerRole } from '../workers/create-workers';
import { dim, red, say } from './output';

/** `mlpipe worker --role ...`: one role (or several) in this process, for production scaling. */
export async function runWorkerCommand(
  opts: { roles: WorkerRole[]; cpuFallback: boolean },
  config: MlpipeConfig = loadConfig(),
): Promise<number> {
  const address = config.temporal.address ?? DEFAULT_TEMPORAL_ADDRESS;
  const running = await runWorkers({
    config,
    address,
    roles: opts.roles,
    gpuCpuFallback: opts.cpuFallback || config.gpuCpuFallback,
    log: (m) => say(dim(m)),
  });
  say(`worker ${opts.roles.join('+')} polling ${address} (namespace ${config.temporal.namespace})`);
  const stop = () => {
    say(dim('shutting down: finishing in-flight tasks...'));
    void running.shutdown();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await running.done;
    await running.shutdown();
    return 0;
  } catch (err) {
    say(red(`worker failed: ${(err as Error).message}`));
    await running.shutdown();
    return 1;
  }
}
