import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  type Client,
  type ScheduleDescription,
  type ScheduleSummary,
} from '@temporalio/client';
import type { Pipeline } from '../definitions/schema';
import {
  DEFAULT_SCHEDULE_PREFIX,
  MANAGED_BY,
  describeSpec,
  desiredSchedules,
  diffSchedules,
  normalizeDescription,
  type DesiredSchedule,
  type ScheduleField,
  type ScheduleTarget,
} from './spec';

/** Options of {@link syncSchedules}. */
export interface SyncOptions extends ScheduleTarget {
  /** Work out and return the changes without making any. @default false */
  dryRun?: boolean;
  /**
   * Pipelines whose definition could not be loaded (a typo in the YAML): their schedules are left as they are instead
   * of being deleted as "gone".
   */
  skipPipelines?: readonly string[];
}

/** One line of the plan: what sync did (or, with `dryRun`, would do) to one schedule. */
export interface ScheduleChange {
  action: 'create' | 'update' | 'delete' | 'unchanged' | 'error';
  scheduleId: string;
  pipeline?: string;
  /** For `update`: the fields that differ. */
  fields?: ScheduleField[];
  /** When it fires, e.g. `cron "0 3 * * MON" UTC, overlap skip`. */
  summary?: string;
  /** For `error`: what is wrong; the schedule was left as it is. */
  error?: string;
}

export interface SyncResult {
  dryRun: boolean;
  /** Every schedule considered, creates first, then updates, deletes, unchanged, errors. */
  changes: ScheduleChange[];
  /** True when nothing had to change (and nothing failed). */
  inSync: boolean;
}

/** Whether a schedule is one that sync (with this prefix) may update or delete. */
export function isManaged(s: Pick<ScheduleSummary, 'scheduleId' | 'memo'>, prefix = DEFAULT_SCHEDULE_PREFIX): boolean {
  return s.scheduleId.startsWith(`${prefix}:`) && s.memo?.managedBy === MANAGED_BY;
}

async function describeOrUndefined(client: Client, scheduleId: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(scheduleId).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

const message = (err: unknown) => (err as Error).message.split('\n')[0];

/**
 * Makes Temporal's schedules match the `schedule:` entries of `definitions`: creates the missing ones, updates the
 * ones that differ (an unchanged definition is a no-op, so running it twice changes nothing the second time), and
 * deletes the schedules mlpipe created whose entry is gone. Schedules mlpipe does not own (no `managedBy: mlpipe`
 * memo, or another id prefix) are never touched. An entry with problems is reported and its schedule left alone;
 * the other entries still sync. Safe to run from several workers at once.
 *
 * A `paused:` in the definition is enforced; without one, pausing by hand (`mlpipe schedules pause`) survives a sync.
 *
 * @example
 * const result = await syncSchedules(mlpipe.client, definitions, { dryRun: true });
 * for (const c of result.changes) console.log(formatChange(c));
 */
export async function syncSchedules(
  client: Client,
  definitions: readonly Pipeline[],
  opts: SyncOptions = {},
): Promise<SyncResult> {
  const prefix = opts.prefix ?? DEFAULT_SCHEDULE_PREFIX;
  if (!/^[a-zA-Z0-9._-]+$/.test(prefix)) throw new Error(`schedule prefix "${prefix}": letters, digits, ".", "_", "-"`);
  const dryRun = opts.dryRun ?? false;
  const skip = new Set(opts.skipPipelines ?? []);
  const desired = definitions.flatMap((d) => desiredSchedules(d, { ...opts, prefix }));
  const changes: ScheduleChange[] = [];

  for (const want of desired) changes.push(await syncOne(client, want, dryRun));

  // Listing is eventually consistent: it finds what to delete, and a describe confirms each before it goes.
  const wanted = new Set(desired.map((d) => d.scheduleId));
  for await (const s of client.schedule.list()) {
    if (!isManaged(s, prefix) || wanted.has(s.scheduleId)) continue;
    const pipeline = typeof s.memo?.pipeline === 'string' ? s.memo.pipeline : s.scheduleId.split(':')[1];
    if (skip.has(pipeline)) continue;
    const current = await describeOrUndefined(client, s.scheduleId);
    if (!current || !isManaged(current, prefix)) continue;
    const change: ScheduleChange = {
      action: 'delete',
      scheduleId: s.scheduleId,
      pipeline,
      summary: describeSpec(normalizeDescription(current)),
    };
    if (!dryRun) {
      try {
        await client.schedule.getHandle(s.scheduleId).delete();
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) Object.assign(change, { action: 'error', error: message(err) });
      }
    }
    changes.push(change);
  }

  const order = ['create', 'update', 'delete', 'unchanged', 'error'];
  changes.sort((a, b) => order.indexOf(a.action) - order.indexOf(b.action) || a.scheduleId.localeCompare(b.scheduleId));
  return { dryRun, changes, inSync: changes.every((c) => c.action === 'unchanged') };
}

/** Creates, updates or leaves one desired schedule. */
async function syncOne(client: Client, want: DesiredSchedule, dryRun: boolean): Promise<ScheduleChange> {
  const base = { scheduleId: want.scheduleId, pipeline: want.pipeline };
  if (!want.options || !want.normalized) return { ...base, action: 'error', error: want.issues.join('; ') };
  const desired = want.normalized;
  const options = want.options;
  const summary = describeSpec(desired);
  try {
    const current = await describeOrUndefined(client, want.scheduleId);
    if (!current) {
      if (!dryRun) {
        try {
          await client.schedule.create(options);
        } catch (err) {
          // Another worker syncing at the same moment created it: that is the outcome we wanted.
          if (!(err instanceof ScheduleAlreadyRunning)) throw err;
        }
      }
      return { ...base, action: 'create', summary };
    }
    if (current.memo?.managedBy !== MANAGED_BY) {
      return {
        ...base,
        action: 'error',
        error: `a schedule with id ${want.scheduleId} exists and was not created by mlpipe: rename the entry or delete it`,
      };
    }
    const fields = diffSchedules(desired, normalizeDescription(current));
    if (!fields.length) return { ...base, action: 'unchanged', summary };
    if (!dryRun) {
      await client.schedule.getHandle(want.scheduleId).update((prev) => ({
        spec: options.spec,
        action: options.action,
        policies: { ...prev.policies, ...options.policies, catchupWindow: desired.catchupWindow },
        // An update sets the state too: keep a pause made by hand unless the definition pins it.
        state: {
          paused: desired.paused ?? prev.state.paused,
          note: desired.paused === undefined ? prev.state.note : (options.state?.note ?? ''),
          remainingActions: prev.state.remainingActions,
        },
      }));
    }
    return { ...base, action: 'update', fields, summary };
  } catch (err) {
    return { ...base, action: 'error', error: message(err) };
  }
}

const SIGNS: Record<ScheduleChange['action'], string> = {
  create: '+',
  update: '~',
  delete: '-',
  unchanged: '=',
  error: '!',
};

/**
 * One change as a line of `mlpipe schedules sync` output.
 *
 * @example
 * formatChange({ action: 'update', scheduleId: 'mlpipe:hello:0', fields: ['params'] });
 * // '~ update    mlpipe:hello:0  (params)'
 */
export function formatChange(c: ScheduleChange): string {
  const detail =
    c.action === 'error'
      ? c.error
      : [c.fields?.length ? `(${c.fields.join(', ')})` : '', c.summary ?? ''].filter(Boolean).join(' ');
  return `${SIGNS[c.action]} ${c.action.padEnd(9)} ${c.scheduleId}${detail ? `  ${detail}` : ''}`;
}
