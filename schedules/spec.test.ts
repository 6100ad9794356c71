import { describe, expect, it } from 'vitest';
import type { ScheduleDescription } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { validateDefinition } from '../definitions/validate';
import type { Pipeline } from '../definitions/schema';
import {
  describeSpec,
  desiredSchedules,
  diffSchedules,
  normalizeCron,
  normalizeDescription,
  scheduleIdOf,
  searchAttributeKeys,
  stableJson,
} from './spec';

function pipeline(schedule: unknown, params: Record<string, unknown> = {}): Pipeline {
  const result = validateDefinition({ name: 'retrain', params, steps: { a: { uses: 'echo' } }, schedule });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.definition!;
}

/** What Temporal's describe() gives back for the options sync sent (calendars keep the cron text as comment). */
function described(def: Pipeline, index = 0, overrides: Partial<ScheduleDescription> = {}): ScheduleDescription {
  const want = desiredSchedules(def)[index];
  const o = want.options!;
  const action = o.action as { taskQueue: string; workflowId: string; args: unknown[] };
  return {
    scheduleId: o.scheduleId,
    spec: {
      calendars: (o.spec.cronExpressions ?? []).map((c) => ({ comment: c.split(' # ')[1] })),
      intervals: (o.spec.intervals ?? []).map((i) => ({ every: Number(i.every), offset: Number(i.offset ?? 0) })),
      timezone: o.spec.timezone ?? '',
      jitter: o.spec.jitter as number | undefined,
    },
    action: {
      type: 'startWorkflow',
      workflowType: 'pipeline',
      taskQueue: action.taskQueue,
      workflowId: action.workflowId,
      args: action.args,
      typedSearchAttributes: new TypedSearchAttributes([
        { key: searchAttributeKeys.pipeline, value: def.name },
        { key: searchAttributeKeys.trigger, value: 'schedule' },
      ]),
    },
    policies: { overlap: o.policies!.overlap!, catchupWindow: want.normalized!.catchupWindow, pauseOnFailure: false },
    memo: o.memo,
    state: { paused: false },
    ...overrides,
  } as unknown as ScheduleDescription;
}

describe('desiredSchedules', () => {
  it('maps one entry to one schedule: id, action, search attributes, policies, merged params', () => {
    const def = pipeline(
      {
        cron: '0 3 * * MON',
        timezone: 'Europe/Paris',
        overlap: 'bufferOne',
        catchupWindow: '1h',
        jitter: '5m',
        params: { minAuc: '0.8' },
      },
      { minAuc: { type: 'number', default: 0.7 }, window: { type: 'string', default: 'jan' } },
    );
    const [s] = desiredSchedules(def);
    expect(s.issues).toEqual([]);
    expect(s.scheduleId).toBe('mlpipe:retrain:0');
    expect(s.options).toMatchObject({
      scheduleId: 'mlpipe:retrain:0',
      spec: {
        cronExpressions: ['0 3 * * MON # 0 3 * * MON'],
        intervals: [],
        timezone: 'Europe/Paris',
        jitter: 300_000,
      },
      action: {
        type: 'startWorkflow',
        workflowType: 'pipeline',
        taskQueue: 'mlpipe',
        workflowId: 'mlpipe:retrain:0',
        args: [{ pipeline: 'retrain', params: { minAuc: 0.8, window: 'jan' } }],
      },
      policies: { overlap: 'BUFFER_ONE', catchupWindow: 3_600_000 },
      memo: { managedBy: 'mlpipe', pipeline: 'retrain' },
      state: { paused: false },
    });
    const attrs = (s.options!.action as { typedSearchAttributes: { key: { name: string }; value: string }[] })
      .typedSearchAttributes;
    expect(attrs.map((a) => [a.key.name, a.value])).toEqual([
      ['MlpipePipeline', 'retrain'],
      ['MlpipeTrigger', 'schedule'],
    ]);
  });

  it('names schedules by `name` or index, with a prefix and the queues of a target', () => {
    const def = pipeline([{ name: 'weekly', cron: '@weekly' }, { interval: '2s' }]);
    const [weekly, second] = desiredSchedules(def, { prefix: 'team-a', taskQueue: 'q', queues: { cpu: 'q-cpu' } });
    expect([weekly.scheduleId, second.scheduleId]).toEqual(['team-a:retrain:weekly', 'team-a:retrain:1']);
    expect(second.options!.spec.intervals).toEqual([{ every: 2000, offset: 0 }]);
    expect(second.options!.action).toMatchObject({ taskQueue: 'q', args: [{ queues: { cpu: 'q-cpu' } }] });
    expect(scheduleIdOf('flights-delay', 'weekly')).toBe('mlpipe:flights-delay:weekly');
  });

  it('maps every overlap word to its Temporal policy', () => {
    const words = ['skip', 'bufferOne', 'bufferAll', 'cancelOther', 'terminateOther', 'allowAll'];
    const def = pipeline(words.map((overlap) => ({ interval: '1m', overlap })));
    expect(desiredSchedules(def).map((s) => s.options!.policies!.overlap)).toEqual([
      'SKIP',
      'BUFFER_ONE',
      'BUFFER_ALL',
      'CANCEL_OTHER',
      'TERMINATE_OTHER',
      'ALLOW_ALL',
    ]);
  });

  it('turns @every cron text into an interval, and pins paused only when the entry says so', () => {
    const [every, paused] = desiredSchedules(
      pipeline([{ cron: '@every 2h/15m' }, { cron: '0 * * * *', paused: true }]),
    );
    expect(every.options!.spec).toMatchObject({
      cronExpressions: [],
      intervals: [{ every: 7_200_000, offset: 900_000 }],
    });
    expect(every.normalized!.paused).toBeUndefined();
    expect(paused.options!.state).toMatchObject({ paused: true, note: 'paused in the pipeline definition' });
    expect(paused.normalized!.paused).toBe(true);
  });

  it('reports bad entries with where they are, and makes no options for them', () => {
    const def = pipeline(
      [
        { name: 'a', cron: 'CRON_TZ=Europe/Paris 0 3 * * *' },
        { name: 'a', cron: 'every monday' },
        { interval: '500ms' },
        { cron: '@often' },
        { cron: '0 3 * * *', params: { nope: 1, n: 'x' } },
      ],
      { n: { type: 'integer', default: 1 } },
    );
    const issues = desiredSchedules(def).map((s) => (s.options ? [] : s.issues));
    expect(issues[0]).toEqual([
      'schedule "a" of retrain: cron "CRON_TZ=Europe/Paris 0 3 * * *": put the time zone in "timezone:", not in the cron text',
    ]);
    expect(issues[1].join('\n')).toMatch(
      /two schedules of retrain are named "a"[\s\S]*cron "every monday": expected 5/,
    );
    expect(issues[2]).toEqual(['schedule "2" of retrain: interval must be at least 1s']);
    expect(issues[3][0]).toMatch(/@often.*expected @yearly/);
    expect(issues[4].join('\n')).toMatch(/param "nope": unknown param[\s\S]*param "n": expected integer/);
  });

  it('keeps the cron text without its comment, spaces collapsed', () => {
    expect(normalizeCron('  0 3  * * MON   # weekly retrain ')).toBe('0 3 * * MON');
  });
});

describe('diffSchedules', () => {
  const def = pipeline(
    [
      { cron: ['0 3 * * MON', '0 4 * * FRI'], timezone: 'UTC', jitter: '1m' },
      { interval: '2s', paused: true },
    ],
    { n: { type: 'integer', default: 1 } },
  );

  it('finds nothing to do when Temporal has what the definition says', () => {
    for (const i of [0, 1]) {
      const want = desiredSchedules(def)[i].normalized!;
      const actual = normalizeDescription(described(def, i, { state: { paused: want.paused ?? false } }));
      expect(diffSchedules(want, actual)).toEqual([]);
    }
  });

  it('names each field that differs', () => {
    const changed = pipeline(
      [
        { cron: ['0 3 * * TUE'], timezone: 'Europe/Paris', overlap: 'allowAll', catchupWindow: '1h', params: { n: 2 } },
        { interval: '3s', paused: false },
      ],
      { n: { type: 'integer', default: 1 } },
    );
    const first = diffSchedules(desiredSchedules(changed)[0].normalized!, normalizeDescription(described(def, 0)));
    expect(first).toEqual(['cron', 'timezone', 'jitter', 'params', 'overlap', 'catchupWindow']);
    const second = normalizeDescription(described(def, 1, { state: { paused: true } }));
    expect(diffSchedules(desiredSchedules(changed)[1].normalized!, second)).toEqual(['interval', 'paused']);
  });

  it('ignores a pause made by hand when the definition does not pin it', () => {
    const want = desiredSchedules(def)[0].normalized!;
    expect(diffSchedules(want, normalizeDescription(described(def, 0, { state: { paused: true } })))).toEqual([]);
  });

  it('sees a changed task queue or pipeline as a changed target', () => {
    const want = desiredSchedules(def, { taskQueue: 'other' })[0].normalized!;
    expect(diffSchedules(want, normalizeDescription(described(def, 0)))).toEqual(['target']);
  });
});

describe('helpers', () => {
  it('stableJson ignores key order', () => {
    expect(stableJson({ b: 1, a: { d: 2, c: [1, { y: 1, x: 2 }] } })).toBe(
      stableJson({ a: { c: [1, { x: 2, y: 1 }], d: 2 }, b: 1 }),
    );
  });

  it('describeSpec says when a schedule fires', () => {
    expect(
      describeSpec({
        cron: ['0 3 * * MON'],
        interval: [{ every: 7_200_000, offset: 900_000 }],
        timezone: 'Europe/Paris',
        overlap: 'BUFFER_ONE',
      }),
    ).toBe('cron "0 3 * * MON" + every 2h/15m Europe/Paris, overlap bufferOne');
  });
});
