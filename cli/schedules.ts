import { Command, InvalidArgumentError, Option } from 'commander';
import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import { MlpipeClient } from '../client/mlpipe-client';
import { DEFAULT_TEMPORAL_ADDRESS, loadConfig } from '../config/env';
import { defaultPipelineDirs, formatIssues } from '../definitions/node';
import { syncSchedulesFromDirs } from '../schedules/definitions';
import { listSchedules } from '../schedules/list';
import { OVERLAP_POLICIES, type OverlapName } from '../schedules/spec';
import { formatChange } from '../schedules/sync';
import { EXIT } from './exit-codes';
import { bold, dim, green, red, say, yellow } from './output';

/** `--json` output on stdout; everything for people goes to stderr. */
const printJson = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

const overlapOption = (description: string) =>
  new Option('--overlap <policy>', description).choices(Object.keys(OVERLAP_POLICIES));

const isoDate = (name: string) => (v: string) => {
  const d = new Date(v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(d.getTime())) {
    throw new InvalidArgumentError(`${name} expects an ISO date or time, e.g. 2026-01-01 or 2026-01-01T03:00:00Z`);
  }
  return d;
};

/** Connects with the environment's config; a Temporal that cannot be reached is exit code 3, said plainly. */
async function withClient(work: (client: Client) => Promise<number>): Promise<number> {
  const config = loadConfig();
  let mlpipe: MlpipeClient;
  try {
    mlpipe = await MlpipeClient.connect({ config });
  } catch (err) {
    say(
      red(`cannot reach Temporal at ${config.temporal.address ?? DEFAULT_TEMPORAL_ADDRESS}: ${(err as Error).message}`),
    );
    return EXIT.unavailable;
  }
  try {
    return await work(mlpipe.client);
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) {
      say(red(`no schedule with id ${err.scheduleId}: see \`mlpipe schedules list --all\``));
      return EXIT.failed;
    }
    throw err;
  } finally {
    await mlpipe.close();
  }
}

/** `mlpipe schedules sync`: Temporal's schedules made to match the definitions' `schedule:` entries. */
export async function syncCommand(opts: { dryRun: boolean; json: boolean; prefix?: string }): Promise<number> {
  const config = loadConfig();
  return withClient(async (client) => {
    const { result, failed } = await syncSchedulesFromDirs(client, {
      dirs: [...config.pipelinePath, ...defaultPipelineDirs()],
      queues: config.queues,
      dryRun: opts.dryRun,
      prefix: opts.prefix,
    });
    for (const f of failed) {
      say(yellow(`${f.result.file} is invalid: the schedules of ${f.name} are left as they are`));
      if (!opts.json) say(formatIssues(f.result.issues));
    }
    if (opts.json) printJson({ ...result, invalidDefinitions: failed.map((f) => f.result.file) });
    else {
      for (const c of result.changes) {
        const line = formatChange(c);
        say(c.action === 'error' ? red(line) : c.action === 'unchanged' ? dim(line) : line);
      }
      const counts = (['create', 'update', 'delete', 'unchanged', 'error'] as const)
        .map((a) => [a, result.changes.filter((c) => c.action === a).length] as const)
        .filter(([, n]) => n > 0)
        .map(([a, n]) => `${n} ${a}`);
      const verdict = result.inSync ? green('in sync') : opts.dryRun ? yellow('dry run: nothing changed') : 'synced';
      say(`${verdict}${counts.length ? ` (${counts.join(', ')})` : ' (no schedules)'}`);
    }
    return result.changes.some((c) => c.action === 'error') || failed.length ? EXIT.failed : EXIT.ok;
  });
}

/** `mlpipe schedules list`. */
export async function listCommand(opts: { all: boolean; json: boolean; prefix?: string }): Promise<number> {
  return withClient(async (client) => {
    const schedules = await listSchedules(client, { all: opts.all, prefix: opts.prefix });
    if (opts.json) {
      printJson(schedules);
      return EXIT.ok;
    }
    if (!schedules.length) say(dim('no schedules: add `schedule:` to a pipeline and run `mlpipe schedules sync`'));
    for (const s of schedules) {
      const state = s.paused ? yellow('paused') : green('active');
      const next = s.nextRunAt && !s.paused ? `next ${s.nextRunAt}` : '';
      const last = s.lastRun ? `last ${s.lastRun.workflowId}` : '';
      const owner = s.managed ? '' : dim('(not managed by mlpipe)');
      say(`${bold(s.scheduleId)}  ${state}  ${s.summary}  ${[next, last, owner].filter(Boolean).join('  ')}`);
      if (s.note) say(dim(`    ${s.note}`));
    }
    return EXIT.ok;
  });
}

type ActionOpts = { json: boolean; overlap?: OverlapName; note?: string; from?: Date; to?: Date };

/** `trigger`, `pause`, `unpause`, `backfill` on one schedule (any schedule, managed by mlpipe or not). */
export async function scheduleActionCommand(
  action: 'trigger' | 'pause' | 'unpause' | 'backfill',
  scheduleId: string,
  opts: ActionOpts,
): Promise<number> {
  return withClient(async (client) => {
    const handle = client.schedule.getHandle(scheduleId);
    const note = opts.note ?? `${action}d with mlpipe by ${process.env.USER ?? 'someone'}`;
    const overlap = opts.overlap ? OVERLAP_POLICIES[opts.overlap] : undefined;
    let done: string;
    if (action === 'trigger') {
      await handle.trigger(overlap);
      done = `triggered ${scheduleId}${opts.overlap ? ` (overlap ${opts.overlap})` : ''}`;
    } else if (action === 'pause') {
      await handle.pause(note);
      done = `paused ${scheduleId}`;
    } else if (action === 'unpause') {
      await handle.unpause(note);
      done = `unpaused ${scheduleId}`;
    } else {
      if (!opts.from || !opts.to || opts.from > opts.to) {
        say(red('backfill needs --from <iso> and --to <iso>, --from first'));
        return EXIT.usage;
      }
      // One after another by default: a backfill of a year of weekly retraining must not start 52 trainings at once.
      await handle.backfill({ start: opts.from, end: opts.to, overlap: overlap ?? OVERLAP_POLICIES.bufferAll });
      done = `backfill of ${scheduleId} from ${opts.from.toISOString()} to ${opts.to.toISOString()} requested`;
    }
    if (opts.json) printJson({ scheduleId, action, ok: true });
    else say(done);
    return EXIT.ok;
  });
}

/**
 * Adds `mlpipe schedules sync|list|trigger|pause|unpause|backfill` to the program.
 *
 * @example
 * const program = new Command('mlpipe');
 * registerScheduleCommands(program);
 */
export function registerScheduleCommands(program: Command): Command {
  const schedules = program
    .command('schedules')
    .description('cron and interval schedules of pipelines (the `schedule:` field), as Temporal Schedules')
    .addHelpText(
      'after',
      `
Each \`schedule:\` entry of each pipeline is one Temporal Schedule with id mlpipe:<pipeline>:<name or index>; it
starts workflow \`pipeline\` with the definition's default params overridden by the entry's \`params\`.

Examples:
  $ mlpipe schedules sync --dry-run        # what would change
  $ mlpipe schedules sync                  # make Temporal match the definitions
  $ mlpipe schedules list
  $ mlpipe schedules trigger mlpipe:flights-delay:weekly`,
    );

  schedules
    .command('sync')
    .description('create, update and delete schedules so Temporal matches the definitions (idempotent)')
    .option('--dry-run', 'print the changes (+ create, ~ update, - delete) and make none', false)
    .option('--json', 'machine-readable output on stdout', false)
    .option('--prefix <prefix>', 'schedule id prefix, for several deployments in one namespace', 'mlpipe')
    .addHelpText(
      'after',
      `
Creates missing schedules, updates changed ones, deletes the ones mlpipe created whose entry is gone; schedules
mlpipe did not create are never touched. An invalid definition's schedules are left as they are (exit 1).
A \`paused:\` in the definition is enforced; without one, \`mlpipe schedules pause\` survives a sync.

Examples:
  $ mlpipe schedules sync --dry-run
  + create    mlpipe:flights-delay:weekly  cron "0 3 * * MON" America/New_York, overlap skip
  $ mlpipe schedules sync --json | jq '.changes[] | select(.action != "unchanged")'`,
    )
    .action(async (o: { dryRun: boolean; json: boolean; prefix: string }) => {
      process.exitCode = await syncCommand(o);
    });

  schedules
    .command('list')
    .description('list the schedules mlpipe manages: state, when they fire, next and last run')
    .option('--all', 'every schedule in the namespace, also those mlpipe does not manage', false)
    .option('--json', 'machine-readable output on stdout', false)
    .option('--prefix <prefix>', 'schedule id prefix of the schedules to list (see sync --prefix)', 'mlpipe')
    .addHelpText('after', '\nExamples:\n  $ mlpipe schedules list\n  $ mlpipe schedules list --all --json')
    .action(async (o: { all: boolean; json: boolean; prefix: string }) => {
      process.exitCode = await listCommand(o);
    });

  schedules
    .command('trigger')
    .description('start a run of a schedule now')
    .argument('<schedule-id>')
    .addOption(overlapOption("what to do if a run is still going (default: the schedule's policy)"))
    .option('--json', 'machine-readable output on stdout', false)
    .addHelpText(
      'after',
      `\nExamples:\n  $ mlpipe schedules trigger mlpipe:flights-delay:weekly\n  $ mlpipe schedules trigger mlpipe:flights-delay:weekly --overlap allowAll`,
    )
    .action(async (id: string, o: ActionOpts) => {
      process.exitCode = await scheduleActionCommand('trigger', id, o);
    });

  for (const action of ['pause', 'unpause'] as const) {
    schedules
      .command(action)
      .description(`${action} a schedule (a sync keeps this unless the definition sets \`paused:\`)`)
      .argument('<schedule-id>')
      .option('-m, --note <text>', 'why (shown in `list` and in the Web UI)')
      .option('--json', 'machine-readable output on stdout', false)
      .addHelpText(
        'after',
        `\nExample:\n  $ mlpipe schedules ${action} mlpipe:flights-delay:weekly -m "${action === 'pause' ? 'data outage' : 'data back'}"`,
      )
      .action(async (id: string, o: ActionOpts) => {
        process.exitCode = await scheduleActionCommand(action, id, o);
      });
  }

  schedules
    .command('backfill')
    .description('take the actions a schedule would have taken between two times, now')
    .argument('<schedule-id>')
    .requiredOption('--from <iso>', 'start of the time range (inclusive)', isoDate('--from'))
    .requiredOption('--to <iso>', 'end of the time range', isoDate('--to'))
    .addOption(overlapOption('how the runs overlap (default: bufferAll, one after another)'))
    .option('--json', 'machine-readable output on stdout', false)
    .addHelpText(
      'after',
      `
Runs are named <schedule-id>-<scheduled time>, e.g. mlpipe:flights-delay:weekly-2026-01-05T03:00:00Z.

Examples:
  $ mlpipe schedules backfill mlpipe:flights-delay:weekly --from 2026-01-01 --to 2026-02-01
  $ mlpipe schedules backfill mlpipe:hello:0 --from 2026-01-01T00:00:00Z --to 2026-01-01T06:00:00Z --overlap allowAll`,
    )
    .action(async (id: string, o: ActionOpts) => {
      process.exitCode = await scheduleActionCommand('backfill', id, o);
    });

  return schedules;
}
