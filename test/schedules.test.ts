import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ScheduleNotFoundError, type Client, type Connection, type ScheduleDescription } from '@temporalio/client';
import { ManagedProcess } from '../cli/processes';
import { findPipeline } from '../definitions/load';
import { validateDefinition } from '../definitions/validate';
import type { Pipeline } from '../definitions/schema';
import { MANAGED_BY, scheduleIdOf } from '../schedules/spec';
import { syncSchedules, type SyncResult } from '../schedules/sync';
import { listSchedules } from '../schedules/list';
import type { PipelineResult, RunStatus } from '../workflows/types';
import { testClient, uniqueId } from './helpers';
import { waitFor as waitForProbe } from './wait';

/** This file's argument order: the probe first. */
const waitFor = <T>(check: () => Promise<T | undefined | false>, what: string, timeoutMs = 30_000) =>
  waitForProbe(what, check, { timeoutMs });

let client: Client;
let connection: Connection;
let hello: Pipeline;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlpipe-schedules-'));
/** Every prefix a test synced with, and schedules made by hand: all deleted at the end. */
const prefixes = new Set<string>();
const foreign = new Set<string>();

beforeAll(async () => {
  ({ client, connection } = await testClient());
  hello = (await findPipeline('hello'))!.definition!;
});

afterAll(async () => {
  for (const prefix of prefixes) await syncSchedules(client, [], { prefix }).catch(() => undefined);
  for (const id of foreign)
    await client.schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined);
  await connection?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A prefix of schedule ids of this test alone, so a sync never sees another test's schedules. */
function newPrefix(): string {
  const prefix = uniqueId('t');
  prefixes.add(prefix);
  return prefix;
}

/** `def` with other `schedule:` entries, validated as a loaded file would be. */
function withSchedule(def: Pipeline, schedule: unknown): Pipeline {
  const result = validateDefinition({ ...def, schedule });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.definition!;
}

const actions = (r: SyncResult) => r.changes.map((c) => `${c.action} ${c.scheduleId}`).sort();

async function describeSchedule(id: string): Promise<ScheduleDescription> {
  return client.schedule.getHandle(id).describe();
}

describe('an interval schedule', () => {
  it('fires real runs of a shipped pipeline, with the definition defaults under the schedule params', async () => {
    const prefix = newPrefix();
    const def = withSchedule(hello, { name: 'every2s', interval: '2s', params: { who: 'schedule' } });
    const id = scheduleIdOf('hello', 'every2s', prefix);
    expect(actions(await syncSchedules(client, [def], { prefix }))).toEqual([`create ${id}`]);

    const started = await waitFor(async () => {
      const d = await describeSchedule(id);
      return d.info.recentActions.length >= 2 && d.info.recentActions.map((a) => a.action.workflow.workflowId);
    }, 'two scheduled runs');
    await syncSchedules(client, [], { prefix }); // stop it before checking, so nothing else starts

    for (const workflowId of started.slice(0, 2)) {
      expect(workflowId.startsWith(`${id}-`)).toBe(true); // Temporal appends the scheduled time
      const handle = client.workflow.getHandle(workflowId);
      const result = (await handle.result()) as PipelineResult;
      expect(result.outputs.greeting).toBe('hello, schedule');
      expect((await handle.query<RunStatus>('status')).params).toEqual({ who: 'schedule', times: 2 });
      const d = await handle.describe();
      expect(d.searchAttributes.MlpipeTrigger).toEqual(['schedule']);
      expect(d.searchAttributes.MlpipePipeline).toEqual(['hello']);
    }
  });

  it('does not fire while paused, and fires once unpaused', async () => {
    const prefix = newPrefix();
    const def = withSchedule(hello, { interval: '1s' });
    const id = scheduleIdOf('hello', 0, prefix);
    await syncSchedules(client, [def], { prefix });
    const handle = client.schedule.getHandle(id);
    await handle.pause('test: paused by hand');
    const pausedAt = await describeSchedule(id);
    await new Promise((r) => setTimeout(r, 3500));
    const d = await describeSchedule(id);
    expect(d.state).toMatchObject({ paused: true, note: 'test: paused by hand' });
    expect(d.info.numActionsTaken).toBe(pausedAt.info.numActionsTaken);

    // Without `paused:` in the definition, a sync keeps a pause made by hand.
    expect(actions(await syncSchedules(client, [def], { prefix }))).toEqual([`unchanged ${id}`]);
    expect((await describeSchedule(id)).state.paused).toBe(true);

    await handle.unpause();
    await waitFor(
      async () => (await describeSchedule(id)).info.numActionsTaken > pausedAt.info.numActionsTaken,
      'a run',
    );
  });

  it('paused in the definition: created paused, takes no action, and a sync re-pauses it', async () => {
    const prefix = newPrefix();
    const id = scheduleIdOf('hello', 0, prefix);
    await syncSchedules(client, [withSchedule(hello, { interval: '1s', paused: true })], { prefix });
    await new Promise((r) => setTimeout(r, 3000));
    const d = await describeSchedule(id);
    expect(d.state).toMatchObject({ paused: true, note: 'paused in the pipeline definition' });
    expect(d.info.numActionsTaken).toBe(0);
    expect(d.info.recentActions).toEqual([]);

    await client.schedule.getHandle(id).unpause();
    const again = await syncSchedules(client, [withSchedule(hello, { interval: '1s', paused: true })], { prefix });
    expect(again.changes).toMatchObject([{ action: 'update', scheduleId: id, fields: ['paused'] }]);
    expect((await describeSchedule(id)).state.paused).toBe(true);
  });
});

describe('the overlap policy', () => {
  let worker: ManagedProcess | undefined;
  afterAll(async () => worker?.stop());

  it('skip: no second run while one is still going; allowAll: runs at once', async () => {
    // A worker of our own that knows test/fixtures/pipelines (sleepy: one 6 s sleep), on queues nobody else serves.
    const queue = uniqueId('sched-overlap');
    const stack = inject('stack');
    worker = new ManagedProcess({
      name: 'overlap-worker',
      command: process.execPath,
      args: [path.join(__dirname, '..', 'bin', 'mlpipe.js'), 'worker', '--role', 'all', '--cpu-fallback'],
      env: {
        ...process.env,
        ...stack.env,
        MLPIPE_PIPELINE_PATH: path.join(__dirname, 'fixtures', 'pipelines'),
        MLPIPE_TASK_QUEUE: queue,
        MLPIPE_CPU_QUEUE: `${queue}-cpu`,
        MLPIPE_GPU_QUEUE: `${queue}-gpu`,
      },
      logFile: path.join(tmp, 'overlap-worker.log'),
    });
    await worker.waitForLine(/worker \S+ polling/, 60_000);

    const prefix = newPrefix();
    const sleepy = (await findPipeline('sleepy', [path.join(__dirname, 'fixtures', 'pipelines')]))!.definition!;
    const def = withSchedule(sleepy, [
      { name: 'skip', interval: '1s', overlap: 'skip' },
      { name: 'all', interval: '1s', overlap: 'allowAll' },
    ]);
    const target = { prefix, taskQueue: queue, queues: { cpu: `${queue}-cpu`, gpu: `${queue}-gpu` } };
    await syncSchedules(client, [def], target);
    const [skip, all] = [scheduleIdOf('sleepy', 'skip', prefix), scheduleIdOf('sleepy', 'all', prefix)];

    // Watch both for 5 s, well inside the first run's 6 s. (Temporal tracks running actions only for policies that
    // need it, so allowAll is counted in visibility.)
    let maxRunning = 0;
    const until = Date.now() + 5000;
    while (Date.now() < until) {
      maxRunning = Math.max(maxRunning, (await describeSchedule(skip)).info.runningActions.length);
      await new Promise((r) => setTimeout(r, 200));
    }
    const runs = async (id: string, running = false) => {
      const out: string[] = [];
      const query = `TemporalScheduledById = "${id}"${running ? ' AND ExecutionStatus = "Running"' : ''}`;
      for await (const w of client.workflow.list({ query })) out.push(w.workflowId);
      return out;
    };
    const concurrent = await waitFor(async () => {
      const r = await runs(all, true);
      return r.length >= 3 && r;
    }, 'three allowAll runs at once');
    const skipped = (await describeSchedule(skip)).info;
    await syncSchedules(client, [], { prefix }); // no more actions
    await expect(describeSchedule(skip)).rejects.toBeInstanceOf(ScheduleNotFoundError);

    expect(maxRunning).toBe(1);
    expect(skipped.numActionsSkippedOverlap).toBeGreaterThanOrEqual(3);
    expect(concurrent.length).toBeGreaterThanOrEqual(3);
    for (const id of [...(await runs(skip, true)), ...(await runs(all, true))]) {
      await client.workflow
        .getHandle(id)
        .terminate('test over')
        .catch(() => undefined);
    }
  });
});

describe('syncSchedules', () => {
  it('creates, then changes nothing; updates what changed; deletes what is gone; never touches others', async () => {
    const prefix = newPrefix();
    const nightly = {
      name: 'nightly',
      cron: '0 2 * * *',
      timezone: 'Europe/Paris',
      overlap: 'bufferOne',
      catchupWindow: '1h',
      jitter: '5m',
      params: { who: 'night' },
    };
    const hourly = { name: 'hourly', interval: '1h', paused: true };
    const [nightlyId, hourlyId] = [scheduleIdOf('hello', 'nightly', prefix), scheduleIdOf('hello', 'hourly', prefix)];

    // Schedules mlpipe does not own: one under our prefix without the memo, one of another prefix with it.
    const unowned = scheduleIdOf('hello', 'handmade', prefix);
    const otherPrefix = `${uniqueId('other')}:hello:0`;
    for (const [scheduleId, memo] of [
      [unowned, undefined],
      [otherPrefix, { managedBy: MANAGED_BY, pipeline: 'hello' }],
    ] as const) {
      foreign.add(scheduleId);
      await client.schedule.create({
        scheduleId,
        spec: { intervals: [{ every: '1h' }] },
        action: { type: 'startWorkflow', workflowType: 'pipeline', taskQueue: 'mlpipe', args: [{ pipeline: 'hello' }] },
        ...(memo ? { memo } : {}),
        state: { paused: true },
      });
    }

    const first = await syncSchedules(client, [withSchedule(hello, [nightly, hourly])], { prefix });
    expect(actions(first)).toEqual([`create ${hourlyId}`, `create ${nightlyId}`]);
    expect(first.inSync).toBe(false);

    // Every field reached Temporal as the definition says.
    const d = await describeSchedule(nightlyId);
    expect(d.spec).toMatchObject({ timezone: 'Europe/Paris', jitter: 300_000 });
    expect(d.spec.calendars?.map((c) => c.comment)).toEqual(['0 2 * * *']);
    expect(d.policies).toMatchObject({ overlap: 'BUFFER_ONE', catchupWindow: 3_600_000 });
    expect(d.action).toMatchObject({
      workflowType: 'pipeline',
      taskQueue: 'mlpipe',
      workflowId: nightlyId,
      args: [{ pipeline: 'hello', params: { who: 'night', times: 2 } }],
    });
    expect(d.action.searchAttributes).toEqual({ MlpipePipeline: ['hello'], MlpipeTrigger: ['schedule'] });
    expect(d.memo).toEqual({ managedBy: 'mlpipe', pipeline: 'hello' });
    expect((await describeSchedule(hourlyId)).state.paused).toBe(true);

    // Idempotent: the second sync changes nothing.
    const second = await syncSchedules(client, [withSchedule(hello, [nightly, hourly])], { prefix });
    expect(actions(second)).toEqual([`unchanged ${hourlyId}`, `unchanged ${nightlyId}`]);
    expect(second.inSync).toBe(true);
    const updatedAt = (await describeSchedule(nightlyId)).info.lastUpdatedAt;

    // A changed param: the dry run says so and changes nothing; the real sync updates; the next is a no-op.
    const changed = withSchedule(hello, [{ ...nightly, params: { who: 'day' } }, hourly]);
    const dry = await syncSchedules(client, [changed], { prefix, dryRun: true });
    expect(dry.changes).toContainEqual(expect.objectContaining({ action: 'update', fields: ['params'] }));
    expect((await describeSchedule(nightlyId)).info.lastUpdatedAt).toEqual(updatedAt);
    expect(actions(await syncSchedules(client, [changed], { prefix }))).toContain(`update ${nightlyId}`);
    expect((await describeSchedule(nightlyId)).action.args).toEqual([
      { pipeline: 'hello', params: { who: 'day', times: 2 } },
    ]);
    expect((await syncSchedules(client, [changed], { prefix })).inSync).toBe(true);

    // An entry whose id is taken by a schedule mlpipe did not create is an error; the schedule stays as it was.
    const clash = await syncSchedules(client, [withSchedule(hello, [{ name: 'handmade', interval: '2h' }])], {
      prefix,
      dryRun: true,
    });
    expect(clash.changes).toContainEqual(
      expect.objectContaining({ action: 'error', scheduleId: unowned, error: expect.stringMatching(/not created by/) }),
    );

    // Gone from the definition: deleted (listing is eventually consistent: wait until it shows both).
    await waitFor(async () => (await listSchedules(client, { prefix })).length === 2, 'the listing');
    const oneLess = withSchedule(hello, [{ ...nightly, params: { who: 'day' } }]);
    const dryDelete = await syncSchedules(client, [oneLess], { prefix, dryRun: true });
    expect(actions(dryDelete)).toEqual([`delete ${hourlyId}`, `unchanged ${nightlyId}`]);
    await describeSchedule(hourlyId); // still there after the dry run
    expect(actions(await syncSchedules(client, [oneLess], { prefix }))).toEqual([
      `delete ${hourlyId}`,
      `unchanged ${nightlyId}`,
    ]);
    await expect(describeSchedule(hourlyId)).rejects.toBeInstanceOf(ScheduleNotFoundError);

    // A pipeline whose file does not load keeps its schedules; with no definitions at all, ours go.
    expect(actions(await syncSchedules(client, [], { prefix, skipPipelines: ['hello'] }))).toEqual([]);
    expect(actions(await syncSchedules(client, [], { prefix }))).toEqual([`delete ${nightlyId}`]);
    for (const id of [unowned, otherPrefix]) expect((await describeSchedule(id)).scheduleId).toBe(id);
  });
});

/** Runs the `mlpipe` CLI from source; `schedules` is registered here when cli/main.ts does not (yet) have it. */
function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = `
    require('tsx/cjs/api').register();
    const { buildProgram } = require('./cli/main.ts');
    const { registerScheduleCommands } = require('./cli/schedules.ts');
    const program = buildProgram();
    if (!program.commands.some((c) => c.name() === 'schedules')) registerScheduleCommands(program);
    program.parseAsync(['node', 'mlpipe', ...process.argv.slice(1)]).catch((e) => { console.error(e); process.exitCode = 1; });`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, ...args], {
      cwd: path.join(__dirname, '..'),
      env: { ...process.env, ...inject('stack').env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

describe('mlpipe schedules (CLI)', () => {
  it('sync --dry-run, sync, list, backfill, pause, trigger', async () => {
    const prefix = newPrefix();
    // hello with a weekly schedule, in a folder searched before the shipped pipelines.
    const dir = path.join(tmp, 'pipelines');
    fs.mkdirSync(dir, { recursive: true });
    const shipped = fs.readFileSync(path.join(__dirname, '..', 'definitions', 'pipelines', 'hello.yaml'), 'utf8');
    fs.writeFileSync(
      path.join(dir, 'hello.yaml'),
      `${shipped}\nschedule:\n  - { name: weekly, cron: '0 12 * * MON', params: { who: backfill } }\n`,
    );
    const env = { MLPIPE_PIPELINE_PATH: dir };
    const id = scheduleIdOf('hello', 'weekly', prefix);

    // A shipped definition that does not load makes sync exit 1 (its schedules are left alone); ours syncs anyway.
    const exitCode = (stderr: string) => (/is invalid: the schedules of .* are left as they are/.test(stderr) ? 1 : 0);
    const dry = await cli(['schedules', 'sync', '--dry-run', '--json', '--prefix', prefix], env);
    expect(dry.code, dry.stderr).toBe(exitCode(dry.stderr));
    expect((JSON.parse(dry.stdout) as SyncResult).changes).toContainEqual(
      expect.objectContaining({ action: 'create', scheduleId: id }),
    );
    await expect(describeSchedule(id)).rejects.toBeInstanceOf(ScheduleNotFoundError);

    const sync = await cli(['schedules', 'sync', '--prefix', prefix], env);
    expect(sync.code, sync.stderr).toBe(exitCode(sync.stderr));
    expect(sync.stderr).toContain(`+ create    ${id}  cron "0 12 * * MON", overlap skip`);
    await waitFor(async () => (await listSchedules(client, { prefix })).some((s) => s.scheduleId === id), 'listing');
    // Each CLI start takes seconds (tsx): what does not depend on another runs at once.
    const [list, missing, backfill] = await Promise.all([
      cli(['schedules', 'list', '--json', '--prefix', prefix], env),
      cli(['schedules', 'pause', `${prefix}:nope:0`], env),
      cli(['schedules', 'backfill', id, '--from', '2025-01-06', '--to', '2025-01-26T23:59:59Z'], env),
    ]);
    expect(JSON.parse(list.stdout)).toContainEqual(
      expect.objectContaining({ scheduleId: id, summary: 'cron "0 12 * * MON"', paused: false, managed: true }),
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`no schedule with id ${prefix}:nope:0`);

    // Three Mondays in the range: three runs, named after their scheduled times, one after another.
    expect(backfill.code, backfill.stderr).toBe(0);
    for (const day of ['2025-01-06', '2025-01-13', '2025-01-20']) {
      const workflowId = `${id}-${day}T12:00:00Z`;
      const handle = client.workflow.getHandle(workflowId);
      await waitFor(async () => (await handle.describe().catch(() => undefined)) !== undefined, workflowId);
      const result = (await handle.result()) as PipelineResult;
      expect(result.outputs.greeting).toBe('hello, backfill');
      expect((await handle.describe()).searchAttributes.MlpipeTrigger).toEqual(['schedule']);
    }
    expect((await describeSchedule(id)).info.numActionsTaken).toBe(3);

    // A trigger starts a run now, paused or not.
    const [pause, trigger] = await Promise.all([
      cli(['schedules', 'pause', id, '-m', 'data outage', '--json'], env),
      cli(['schedules', 'trigger', id], env),
    ]);
    expect(JSON.parse(pause.stdout)).toEqual({ scheduleId: id, action: 'pause', ok: true });
    expect(trigger.code, trigger.stderr).toBe(0);
    expect((await describeSchedule(id)).state).toMatchObject({ paused: true, note: 'data outage' });
    await waitFor(async () => (await describeSchedule(id)).info.numActionsTaken === 4, 'the triggered run');
  });
});
