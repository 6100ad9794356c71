import type {
  ScheduleDescription,
  ScheduleOptions,
  ScheduleOverlapPolicy,
  ScheduleSpecDescription,
} from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType, TypedSearchAttributes } from '@temporalio/common';
import { parseDuration } from '../definitions/duration';
import { resolveParams } from '../definitions/params';
import { ID_PATTERN, type Pipeline, type Schedule } from '../definitions/schema';
import type { PipelineInput, Queues } from '../workflows/types';

/**
 * From a definition's `schedule:` entries to Temporal Schedules, and the normalized form that sync compares. Pure: no
 * I/O, so every mapping rule is unit-tested without a server (`spec.test.ts`); `sync.ts` does the talking.
 */

/** Memo every schedule mlpipe creates carries; sync only ever updates or deletes schedules with it. */
export const MANAGED_BY = 'mlpipe';
/** @default prefix of schedule ids: `mlpipe:<pipeline>:<name or index>`. */
export const DEFAULT_SCHEDULE_PREFIX = 'mlpipe';
/** Temporal's catch-up window when none is set (1 year), and its floor (10 s): the server stores these. */
const DEFAULT_CATCHUP_MS = 365 * 86_400_000;
const MIN_CATCHUP_MS = 10_000;

export const searchAttributeKeys = {
  pipeline: defineSearchAttributeKey('MlpipePipeline', SearchAttributeType.KEYWORD),
  trigger: defineSearchAttributeKey('MlpipeTrigger', SearchAttributeType.KEYWORD),
} as const;

/** The `overlap:` words of the pipeline language and Temporal's policies, one to one. */
export const OVERLAP_POLICIES = {
  skip: 'SKIP',
  bufferOne: 'BUFFER_ONE',
  bufferAll: 'BUFFER_ALL',
  cancelOther: 'CANCEL_OTHER',
  terminateOther: 'TERMINATE_OTHER',
  allowAll: 'ALLOW_ALL',
} as const satisfies Record<NonNullable<Schedule['overlap']>, ScheduleOverlapPolicy>;
export type OverlapName = keyof typeof OVERLAP_POLICIES;

/** Where scheduled runs go. */
export interface ScheduleTarget {
  /** Task queue of the `pipeline` workflow. @default mlpipe */
  taskQueue?: string;
  /** Task queues written into each run's input (multi-tenant setups, tests); the workers' own when omitted. */
  queues?: Partial<Queues>;
  /** First part of every schedule id; deployments sharing a namespace each use their own. @default mlpipe */
  prefix?: string;
}

/**
 * What sync compares: everything mlpipe sets on a schedule, in one form whether it comes from a definition or from
 * Temporal's description (which turns cron text into calendars, hence the cron text kept as the calendar comment).
 */
export interface NormalizedSchedule {
  cron: string[];
  interval: { every: number; offset: number }[];
  timezone: string;
  jitter: number;
  /** Workflow type, task queue, workflow id, pipeline and search attributes. */
  target: { workflowType: string; taskQueue: string; workflowId: string; pipeline?: string; trigger?: string };
  input: PipelineInput;
  overlap: string;
  catchupWindow: number;
  /** Only when the definition says `paused:`; otherwise pause/unpause by hand is left alone. */
  paused?: boolean;
}
/** The parts of a schedule that can differ, as named in `sync --dry-run` (`~ update ... (interval, params)`). */
export type ScheduleField =
  'cron' | 'interval' | 'timezone' | 'jitter' | 'target' | 'params' | 'overlap' | 'catchupWindow' | 'paused';

/** One `schedule:` entry of one definition, ready to create, or the reason it cannot be. */
export interface DesiredSchedule {
  scheduleId: string;
  pipeline: string;
  /** The entry's `name`, or its index in the list. */
  key: string;
  /** Problems with the entry (bad params, bad cron); when any, sync leaves the schedule of this id as it is. */
  issues: string[];
  options?: ScheduleOptions;
  normalized?: NormalizedSchedule;
}

/**
 * The id of the schedule for one entry: `<prefix>:<pipeline>:<name or index>`.
 *
 * @example
 * scheduleIdOf('flights-delay', 'weekly'); // 'mlpipe:flights-delay:weekly'
 */
export function scheduleIdOf(pipeline: string, key: string | number, prefix = DEFAULT_SCHEDULE_PREFIX): string {
  return `${prefix}:${pipeline}:${key}`;
}

/** The `schedule:` field as a list (one object is a list of one). */
export function scheduleEntries(def: Pick<Pipeline, 'schedule'>): Schedule[] {
  return def.schedule === undefined ? [] : Array.isArray(def.schedule) ? def.schedule : [def.schedule];
}

/** Cron text without its `# comment`, spaces collapsed: what is sent, and what is kept as the calendar's comment. */
export function normalizeCron(text: string): string {
  return text.split('#')[0].trim().replace(/\s+/g, ' ');
}

const EVERY = /^@every\s+(\S+?)(?:\/(\S+))?$/;

/** Problems with one cron text, or undefined. Temporal checks the fields themselves when the schedule is created. */
function checkCron(cron: string): string | undefined {
  if (!cron) return 'cron is empty';
  if (/^(CRON_)?TZ=/.test(cron)) return `cron "${cron}": put the time zone in "timezone:", not in the cron text`;
  if (cron.startsWith('@')) {
    const every = EVERY.exec(cron);
    if (every) return checkDurations([every[1], every[2]], `cron "${cron}"`);
    return ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'].includes(cron)
      ? undefined
      : `cron "${cron}": expected @yearly, @monthly, @weekly, @daily, @hourly or @every <duration>`;
  }
  const fields = cron.split(' ').length;
  return fields >= 5 && fields <= 7
    ? undefined
    : `cron "${cron}": expected 5 fields (minute hour day-of-month month day-of-week), 6 (+ year) or 7 (second first)`;
}

function checkDurations(values: (string | undefined)[], what: string): string | undefined {
  for (const v of values) {
    if (v === undefined) continue;
    try {
      parseDuration(v);
    } catch (err) {
      return `${what}: ${(err as Error).message}`;
    }
  }
  return undefined;
}

/**
 * Every schedule a definition asks for, each with its Temporal options and normalized form. Params are the
 * definition's defaults overridden by the entry's `params`, typed and checked as `mlpipe run` does.
 *
 * @example
 * const [weekly] = desiredSchedules(flightsDelay);
 * weekly.scheduleId; // 'mlpipe:flights-delay:weekly'
 * weekly.options?.spec.cronExpressions; // ['0 3 * * MON # 0 3 * * MON']
 */
export function desiredSchedules(def: Pipeline, target: ScheduleTarget = {}): DesiredSchedule[] {
  const entries = scheduleEntries(def);
  const keys = entries.map((s, i) => (typeof s.name === 'string' ? s.name : String(i)));
  return entries.map((entry, i) => {
    const key = keys[i];
    const scheduleId = scheduleIdOf(def.name, key, target.prefix);
    const at = `schedule ${entries.length > 1 || typeof entry.name === 'string' ? `"${key}" ` : ''}of ${def.name}`;
    const issues: string[] = [];
    if (typeof entry.name === 'string' && !ID_PATTERN.test(entry.name)) {
      issues.push(`${at}: name "${entry.name}" must be letters, digits, "_" or "-", starting with a letter or "_"`);
    }
    if (entry.name !== undefined && typeof entry.name !== 'string') issues.push(`${at}: name must be a string`);
    if (keys.indexOf(key) !== i) issues.push(`${at}: two schedules of ${def.name} are named "${key}"`);
    const crons = (entry.cron === undefined ? [] : ([] as string[]).concat(entry.cron)).map(normalizeCron);
    for (const c of crons) {
      const problem = checkCron(c);
      if (problem) issues.push(`${at}: ${problem}`);
    }
    let every: number | undefined;
    if (entry.interval !== undefined) {
      every = parseDuration(entry.interval);
      if (every < 1000) issues.push(`${at}: interval must be at least 1s`);
    }
    const params = resolveParams(def, entry.params ?? {});
    issues.push(...params.issues.map((p) => `${at}: ${p}`));
    if (issues.length) return { scheduleId, pipeline: def.name, key, issues };

    const input: PipelineInput = {
      pipeline: def.name,
      params: params.params,
      ...(target.queues && Object.keys(target.queues).length ? { queues: target.queues } : {}),
    };
    const calendarCrons = crons.filter((c) => !EVERY.test(c));
    const intervals = [
      ...(every !== undefined ? [{ every, offset: 0 }] : []),
      ...crons.flatMap((c) => {
        const m = EVERY.exec(c);
        return m ? [{ every: parseDuration(m[1]), offset: m[2] ? parseDuration(m[2]) : 0 }] : [];
      }),
    ];
    const overlap = OVERLAP_POLICIES[entry.overlap ?? 'skip'];
    const catchupWindow = entry.catchupWindow === undefined ? undefined : parseDuration(entry.catchupWindow);
    const jitter = entry.jitter === undefined ? 0 : parseDuration(entry.jitter);
    const taskQueue = target.taskQueue ?? 'mlpipe';
    const options: ScheduleOptions = {
      scheduleId,
      spec: {
        // Temporal stores cron text as calendars; the comment keeps the text so sync can compare it.
        cronExpressions: calendarCrons.map((c) => `${c} # ${c}`),
        intervals,
        ...(entry.timezone ? { timezone: entry.timezone } : {}),
        ...(jitter ? { jitter } : {}),
      },
      action: {
        type: 'startWorkflow',
        workflowType: 'pipeline',
        taskQueue,
        // Temporal appends the scheduled time: `mlpipe:flights-delay:weekly-2026-11-30T03:00:00Z`.
        workflowId: scheduleId,
        args: [input],
        typedSearchAttributes: [
          { key: searchAttributeKeys.pipeline, value: def.name },
          { key: searchAttributeKeys.trigger, value: 'schedule' },
        ],
      },
      policies: { overlap, ...(catchupWindow !== undefined ? { catchupWindow } : {}) },
      memo: { managedBy: MANAGED_BY, pipeline: def.name },
      state: {
        paused: entry.paused ?? false,
        ...(entry.paused ? { note: 'paused in the pipeline definition' } : {}),
      },
    };
    const normalized: NormalizedSchedule = {
      cron: calendarCrons,
      interval: intervals,
      timezone: entry.timezone ?? '',
      jitter,
      target: { workflowType: 'pipeline', taskQueue, workflowId: scheduleId, pipeline: def.name, trigger: 'schedule' },
      input,
      overlap,
      catchupWindow: Math.max(MIN_CATCHUP_MS, catchupWindow ?? DEFAULT_CATCHUP_MS),
      ...(entry.paused !== undefined ? { paused: entry.paused } : {}),
    };
    return { scheduleId, pipeline: def.name, key, issues, options, normalized };
  });
}

/** Reads one keyword search attribute from a description, typed or untyped, whichever the SDK filled. */
function keyword(attrs: unknown, key: (typeof searchAttributeKeys)[keyof typeof searchAttributeKeys]) {
  if (attrs instanceof TypedSearchAttributes) return attrs.get(key);
  if (Array.isArray(attrs)) {
    const pair = attrs.find((p: { key?: { name?: string } }) => p.key?.name === key.name) as
      { value?: unknown } | undefined;
    return typeof pair?.value === 'string' ? pair.value : undefined;
  }
  return undefined;
}

/** The normalized form of a schedule as Temporal describes it (see {@link NormalizedSchedule}). */
export function normalizeDescription(d: ScheduleDescription): NormalizedSchedule {
  const action = d.action;
  return {
    cron: (d.spec.calendars ?? []).map((c) => c.comment ?? ''),
    interval: (d.spec.intervals ?? []).map((i) => ({ every: i.every, offset: i.offset ?? 0 })),
    timezone: d.spec.timezone ?? '',
    jitter: d.spec.jitter ?? 0,
    target: {
      workflowType: action.workflowType,
      taskQueue: action.taskQueue,
      workflowId: action.workflowId,
      pipeline: keyword(action.typedSearchAttributes, searchAttributeKeys.pipeline),
      trigger: keyword(action.typedSearchAttributes, searchAttributeKeys.trigger),
    },
    input: (action.args?.[0] ?? {}) as PipelineInput,
    overlap: d.policies.overlap ?? 'SKIP',
    catchupWindow: d.policies.catchupWindow,
    paused: d.state.paused,
  };
}

/** JSON with object keys sorted: equal values give equal text whatever the key order. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

/**
 * The fields in which the actual schedule differs from the desired one; empty when sync has nothing to do.
 * `paused` counts only when the definition pins it.
 *
 * @example
 * diffSchedules(desired.normalized!, normalizeDescription(await handle.describe())); // ['params']
 */
export function diffSchedules(desired: NormalizedSchedule, actual: NormalizedSchedule): ScheduleField[] {
  const same = (x: unknown, y: unknown) => stableJson(x) === stableJson(y);
  const { params: desiredParams = {}, ...desiredInput } = desired.input;
  const { params: actualParams = {}, ...actualInput } = actual.input;
  const equal: [ScheduleField, boolean][] = [
    ['cron', same(desired.cron, actual.cron)],
    ['interval', same(desired.interval, actual.interval)],
    ['timezone', desired.timezone === actual.timezone],
    ['jitter', desired.jitter === actual.jitter],
    ['target', same(desired.target, actual.target) && same(desiredInput, actualInput)],
    ['params', same(desiredParams, actualParams)],
    ['overlap', desired.overlap === actual.overlap],
    ['catchupWindow', desired.catchupWindow === actual.catchupWindow],
    ['paused', desired.paused === undefined || desired.paused === actual.paused],
  ];
  return equal.filter(([, eq]) => !eq).map(([field]) => field);
}

/** A one-line summary: `cron "0 3 * * MON" Europe/Paris, overlap skip` (for `list` and `sync`). */
export function describeSpec(
  n: Pick<NormalizedSchedule, 'cron' | 'interval' | 'timezone'> & { overlap?: string },
): string {
  const overlapName = (Object.keys(OVERLAP_POLICIES) as OverlapName[]).find((k) => OVERLAP_POLICIES[k] === n.overlap);
  const when = [
    ...n.cron.map((c) => `cron "${c}"`),
    ...n.interval.map((i) => `every ${formatMs(i.every)}${i.offset ? `/${formatMs(i.offset)}` : ''}`),
  ];
  const overlap = n.overlap ? `, overlap ${overlapName ?? n.overlap}` : '';
  return `${when.join(' + ') || '(no times)'}${n.timezone ? ` ${n.timezone}` : ''}${overlap}`;
}

/** The spec part of a listed or described schedule, normalized (cron text from the calendar comments). */
export function normalizeSpec(
  spec: ScheduleSpecDescription | undefined,
): Pick<NormalizedSchedule, 'cron' | 'interval' | 'timezone'> {
  return {
    cron: (spec?.calendars ?? []).map((c) => c.comment || '(calendar)'),
    interval: (spec?.intervals ?? []).map((i) => ({ every: i.every, offset: i.offset ?? 0 })),
    timezone: spec?.timezone ?? '',
  };
}

function formatMs(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
