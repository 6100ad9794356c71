import type { Client } from '@temporalio/client';
// Through node.ts (and index.ts), so every step type is registered before definitions are validated.
import { defaultPipelineDirs, listPipelines, loadDefinitionFile, type LoadResult } from '../definitions/node';
import type { Pipeline } from '../definitions/schema';
import { queues as defaultQueues } from '../workflows/queues';
import type { Queues } from '../workflows/types';
import { syncSchedules, type SyncOptions, type SyncResult } from './sync';

/** The definitions {@link syncSchedules} needs, and the ones that did not load. */
export interface ScheduleSources {
  /** Every pipeline that loaded, with or without `schedule:`. */
  definitions: Pipeline[];
  /** Pipelines whose file is invalid: pass their names as `skipPipelines` so their schedules are not deleted. */
  failed: { name: string; result: LoadResult }[];
}

/**
 * Loads every pipeline in `dirs` (as the workers find them by name: first dir first) for a schedule sync.
 *
 * @example
 * const { definitions, failed } = await loadScheduleSources([...config.pipelinePath, ...defaultPipelineDirs()]);
 * await syncSchedules(client, definitions, { skipPipelines: failed.map((f) => f.name) });
 */
export async function loadScheduleSources(dirs: readonly string[] = defaultPipelineDirs()): Promise<ScheduleSources> {
  const found = listPipelines(dirs);
  const knownPipelines = found.map((p) => p.name);
  const sources: ScheduleSources = { definitions: [], failed: [] };
  for (const { name, file } of found) {
    const result = await loadDefinitionFile(file, { knownPipelines });
    if (result.ok && result.definition) sources.definitions.push(result.definition);
    else sources.failed.push({ name, result });
  }
  return sources;
}

/**
 * Loads the pipelines in `dirs` and syncs their schedules (what `mlpipe schedules sync` and a worker starting with
 * schedule sync on do). Runs name their activity queues only where `queues` differ from the defaults, as the workers
 * that prepare a run must be reached on the CPU queue they poll.
 *
 * @example
 * const { result, failed } = await syncSchedulesFromDirs(mlpipe.client, {
 *   dirs: [...config.pipelinePath, ...defaultPipelineDirs()],
 *   queues: config.queues,
 * });
 */
export async function syncSchedulesFromDirs(
  client: Client,
  opts: Omit<SyncOptions, 'taskQueue' | 'queues' | 'skipPipelines'> & {
    dirs?: readonly string[];
    /** The deployment's task queues (config.queues). @default mlpipe, mlpipe-cpu, mlpipe-gpu */
    queues?: Queues;
  } = {},
): Promise<{ result: SyncResult; failed: ScheduleSources['failed'] }> {
  const { dirs, queues = defaultQueues, ...rest } = opts;
  const sources = await loadScheduleSources(dirs);
  const result = await syncSchedules(client, sources.definitions, {
    ...rest,
    taskQueue: queues.workflows,
    queues: {
      ...(queues.cpu !== defaultQueues.cpu ? { cpu: queues.cpu } : {}),
      ...(queues.gpu !== defaultQueues.gpu ? { gpu: queues.gpu } : {}),
    },
    skipPipelines: sources.failed.map((f) => f.name),
  });
  return { result, failed: sources.failed };
}
