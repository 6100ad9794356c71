import { Command, InvalidArgumentError, Option } from 'commander';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { MlpipeClient } from '../client/mlpipe-client';
import { PIPELINE_NAME_PATTERN } from '../definitions/schema';
import { bold, dim, green, red, yellow } from './output';
import { EXIT } from './exit-codes';

/** Values of the MlpipeStatus search attribute (set at start, updated when the run ends). */
export const RUN_STATUSES = ['running', 'succeeded', 'failed', 'cancelled'] as const;
export type RunStatusFilter = (typeof RUN_STATUSES)[number];

const keys = {
  pipeline: defineSearchAttributeKey('MlpipePipeline', SearchAttributeType.KEYWORD),
  status: defineSearchAttributeKey('MlpipeStatus', SearchAttributeType.KEYWORD),
  trigger: defineSearchAttributeKey('MlpipeTrigger', SearchAttributeType.KEYWORD),
};

export interface RunsFilter {
  pipeline?: string;
  status?: RunStatusFilter;
  /** @default 20 */
  limit?: number;
}

/** One line of `mlpipe runs list`. */
export interface RunSummary {
  runId: string;
  pipeline: string | null;
  /** MlpipeStatus: running, succeeded, failed, cancelled. */
  status: string | null;
  /** Temporal's own: RUNNING, COMPLETED, FAILED, TERMINATED, ... */
  temporalStatus: string;
  trigger: string | null;
  startTime: string;
  closeTime: string | null;
}

/**
 * The visibility query for a filter. Values are checked against their patterns before they are quoted, so a
 * filter cannot change the query's meaning.
 *
 * @example
 * runsQuery({ pipeline: 'hello', status: 'failed' });
 * // "WorkflowType = 'pipeline' AND MlpipePipeline = 'hello' AND MlpipeStatus = 'failed'"
 */
export function runsQuery(filter: Omit<RunsFilter, 'limit'>): string {
  const parts = [`WorkflowType = 'pipeline'`];
  if (filter.pipeline !== undefined) {
    if (!PIPELINE_NAME_PATTERN.test(filter.pipeline)) throw new Error(`not a pipeline name: ${filter.pipeline}`);
    parts.push(`MlpipePipeline = '${filter.pipeline}'`);
  }
  if (filter.status !== undefined) {
    if (!(RUN_STATUSES as readonly string[]).includes(filter.status)) {
      throw new Error(`status must be one of ${RUN_STATUSES.join(', ')}`);
    }
    parts.push(`MlpipeStatus = '${filter.status}'`);
  }
  return parts.join(' AND ');
}

function summarize(info: WorkflowExecutionInfo): RunSummary {
  const sa = info.typedSearchAttributes;
  return {
    runId: info.workflowId,
    pipeline: sa.get(keys.pipeline) ?? null,
    status: sa.get(keys.status) ?? null,
    temporalStatus: info.status.name,
    trigger: sa.get(keys.trigger) ?? null,
    startTime: info.startTime.toISOString(),
    closeTime: info.closeTime?.toISOString() ?? null,
  };
}

/**
 * Recent pipeline runs (newest first) matching a filter, through Temporal's visibility store. Eventually
 * consistent: a run that just started or ended may show its previous state for a moment.
 */
export async function listRuns(client: Client, filter: RunsFilter = {}): Promise<RunSummary[]> {
  const limit = filter.limit ?? 20;
  const out: RunSummary[] = [];
  if (limit <= 0) return out;
  for await (const info of client.workflow.list({ query: runsQuery(filter), pageSize: Math.min(limit, 1000) })) {
    out.push(summarize(info));
    if (out.length >= limit) break;
  }
  return out;
}

const paint: Record<string, (s: string) => string> = { succeeded: green, failed: red, cancelled: yellow };

function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 90) return `${s}s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)}m ago`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** The table `mlpipe runs list` prints. */
export function renderRuns(runs: RunSummary[], now = Date.now()): string[] {
  if (!runs.length) return [dim('no runs match')];
  const w = (f: (r: RunSummary) => string, title: string) => Math.max(title.length, ...runs.map((r) => f(r).length));
  const idW = w((r) => r.runId, 'RUN');
  const pW = w((r) => r.pipeline ?? '-', 'PIPELINE');
  const sW = w((r) => r.status ?? '-', 'STATUS');
  const tW = w((r) => r.trigger ?? '-', 'TRIGGER');
  const lines = [
    bold(`${'RUN'.padEnd(idW)}  ${'PIPELINE'.padEnd(pW)}  ${'STATUS'.padEnd(sW)}  ${'TRIGGER'.padEnd(tW)}  STARTED`),
  ];
  for (const r of runs) {
    const status = (r.status ?? '-').padEnd(sW);
    // Temporal's status is shown too when it disagrees (e.g. a run terminated from the Web UI stays "running").
    const odd = r.status === 'running' && r.temporalStatus !== 'RUNNING' ? dim(` (${r.temporalStatus})`) : '';
    lines.push(
      `${r.runId.padEnd(idW)}  ${(r.pipeline ?? '-').padEnd(pW)}  ${(paint[r.status ?? ''] ?? ((s: string) => s))(status)}  ` +
        `${(r.trigger ?? '-').padEnd(tW)}  ${ago(r.startTime, now)}${odd}`,
    );
  }
  return lines;
}

/** `mlpipe runs list`: the table on stdout (or JSON with `--json`). */
export async function runsListCommand(opts: RunsFilter & { json: boolean }): Promise<number> {
  const mlpipe = await MlpipeClient.connect();
  try {
    const runs = await listRuns(mlpipe.client, opts);
    if (opts.json) process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
    else process.stdout.write(`${renderRuns(runs).join('\n')}\n`);
    return EXIT.ok;
  } finally {
    await mlpipe.close();
  }
}

const limitArg = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new InvalidArgumentError('--limit must be 1..10000');
  return n;
};

const pipelineArg = (v: string) => {
  if (!PIPELINE_NAME_PATTERN.test(v)) throw new InvalidArgumentError('not a pipeline name');
  return v;
};

/**
 * Adds `mlpipe runs list [--pipeline X] [--status S] [--limit N] [--json]` (reusing a `runs` command if one exists).
 *
 * @example
 * registerRunsListCommand(program); // in buildProgram()
 */
export function registerRunsListCommand(program: Command): void {
  const runs =
    program.commands.find((c) => c.name() === 'runs') ?? program.command('runs').description('pipeline runs');
  runs
    .command('list')
    .description('recent runs, newest first (Temporal visibility on MlpipePipeline / MlpipeStatus)')
    .option('--pipeline <name>', 'only runs of this pipeline', pipelineArg)
    .addOption(new Option('--status <status>', 'only runs in this state').choices(RUN_STATUSES))
    .option('--limit <n>', 'at most this many', limitArg, 20)
    .option('--json', 'machine-readable output on stdout', false)
    .addHelpText(
      'after',
      `
Examples:
  $ mlpipe runs list
  $ mlpipe runs list --pipeline flights-delay --status failed --limit 5 --json`,
    )
    .action(async (o: { pipeline?: string; status?: RunStatusFilter; limit: number; json: boolean }) => {
      process.exitCode = await runsListCommand(o);
    });
}
