import type { Client } from '@temporalio/client';
import { DEFAULT_SCHEDULE_PREFIX, describeSpec, normalizeSpec } from './spec';
import { isManaged } from './sync';

/** One schedule as `mlpipe schedules list` shows it. */
export interface ScheduleListing {
  scheduleId: string;
  /** The pipeline it starts (from the memo mlpipe writes), when mlpipe manages it. */
  pipeline?: string;
  /** Created by `mlpipe schedules sync` (with this prefix): sync may update or delete it. */
  managed: boolean;
  paused: boolean;
  note?: string;
  /** When it fires, e.g. `cron "0 3 * * MON" Europe/Paris`. */
  summary: string;
  /** ISO time of the next action, if any. */
  nextRunAt?: string;
  /** The run the schedule started last, if any. */
  lastRun?: { workflowId: string; scheduledAt: string };
}

/**
 * The schedules mlpipe manages (or, with `all`, every schedule in the namespace), sorted by id. Listing is eventually
 * consistent: a schedule created a moment ago may be missing.
 *
 * @example
 * for (const s of await listSchedules(mlpipe.client)) console.log(s.scheduleId, s.summary, s.nextRunAt);
 */
export async function listSchedules(
  client: Client,
  opts: { all?: boolean; prefix?: string } = {},
): Promise<ScheduleListing[]> {
  const prefix = opts.prefix ?? DEFAULT_SCHEDULE_PREFIX;
  const out: ScheduleListing[] = [];
  for await (const s of client.schedule.list()) {
    const managed = isManaged(s, prefix);
    if (!managed && !opts.all) continue;
    const last = s.info.recentActions.at(-1);
    out.push({
      scheduleId: s.scheduleId,
      ...(typeof s.memo?.pipeline === 'string' ? { pipeline: s.memo.pipeline } : {}),
      managed,
      paused: s.state.paused,
      ...(s.state.note ? { note: s.state.note } : {}),
      summary: describeSpec(normalizeSpec(s.spec)),
      ...(s.info.nextActionTimes[0] ? { nextRunAt: s.info.nextActionTimes[0].toISOString() } : {}),
      ...(last
        ? { lastRun: { workflowId: last.action.workflow.workflowId, scheduledAt: last.scheduledAt.toISOString() } }
        : {}),
    });
  }
  return out.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}
