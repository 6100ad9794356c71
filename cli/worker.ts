import { loadConfig, DEFAULT_TEMPORAL_ADDRESS, type MlpipeConfig } from '../config/env';
import { runWorkers } from '../workers/run-workers';
import type { WorkerRole } from '../workers/create-workers';
import { dim, red, say, yellow } from './output';
import { Client, Connection } from '@temporalio/client';
import { temporalConnectionOptions } from '../client/connection';
import { defaultPipelineDirs } from '../definitions/node';
import { syncSchedulesFromDirs } from '../schedules';

/** `mlpipe worker --role ...`: one role (or several) in this process, for production scaling. */
export async function runWorkerCommand(
  opts: { roles: WorkerRole[]; cpuFallback: boolean; syncSchedules?: boolean },
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
  if (opts.syncSchedules) await syncAtStart(config, address);
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

/** `--sync-schedules`: make Temporal Schedules match the definitions this worker can see, before polling. */
async function syncAtStart(config: MlpipeConfig, address: string): Promise<void> {
  const connection = await Connection.connect(temporalConnectionOptions(config.temporal, address));
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const { result, failed } = await syncSchedulesFromDirs(client, {
      dirs: [...config.pipelinePath, ...defaultPipelineDirs()],
      queues: config.queues,
    });
    const counts = Object.entries(
      result.changes.reduce<Record<string, number>>((acc, c) => ({ ...acc, [c.action]: (acc[c.action] ?? 0) + 1 }), {}),
    );
    say(dim(`schedules synced: ${counts.map(([k, v]) => `${v} ${k}`).join(', ') || 'none'}`));
    for (const f of failed) say(yellow(`schedules of ${f.name} left as they are: its definition does not load`));
  } finally {
    await connection.close();
  }
}
