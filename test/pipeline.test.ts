import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError, type Client, type Connection } from '@temporalio/client';
import type { PipelineResult, RunStatus } from '../workflows/types';
import { testClient, uniqueId } from './helpers';
import { shapes } from './fixtures/shapes';

let client: Client;
let connection: Connection;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlpipe-pipeline-'));
beforeAll(async () => ({ client, connection } = await testClient()));
afterAll(async () => {
  await connection?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Starts an inline definition and returns the handle. */
async function start(definition: unknown, params: Record<string, unknown> = {}) {
  const workflowId = uniqueId((definition as { name: string }).name);
  return client.workflow.start('pipeline', { taskQueue: 'mlpipe', workflowId, args: [{ definition, params }] });
}

async function run(definition: unknown, params: Record<string, unknown> = {}) {
  const handle = await start(definition, params);
  const outcome: { ok: boolean; result?: PipelineResult; error?: WorkflowFailedError } = await handle.result().then(
    (r: PipelineResult) => ({ ok: true, result: r }),
    (e: unknown) => ({ ok: false, error: e as WorkflowFailedError }),
  );
  const status = await handle.query<RunStatus>('status');
  return { handle, status, ...outcome };
}

/** The innermost cause of a failed run: what a step raised. */
function rootCause(err: unknown): { type?: string; message: string } {
  let e = err as { cause?: unknown; type?: string; message: string };
  while (e.cause) e = e.cause as typeof e;
  return e;
}

const ms = (iso?: string) => new Date(iso!).getTime();
/** A shell step that appends a line to a file shared with this test (the worker runs on this machine). */
const appendTo = (file: string, line: string) => ({
  uses: 'command',
  with: { run: ['sh', '-c', `echo ${line} >> ${file}`] },
});
const lines = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n') : []);

describe.each(Object.entries(shapes))('DAG shape %s', (_name, shape) => {
  it('runs every step once, each after everything it needs', async () => {
    const { ok, status } = await run(shape);
    expect(ok).toBe(true);
    for (const [id, step] of Object.entries(shape.steps)) {
      expect(status.steps[id].state, id).toBe('succeeded');
      const needs = ([] as string[]).concat((step as { needs?: string | string[] }).needs ?? []);
      for (const n of needs)
        expect(ms(status.steps[id].startedAt), `${id} after ${n}`).toBeGreaterThanOrEqual(ms(status.steps[n].endedAt));
    }
  });
});

describe('the interpreter', () => {
  it('runs the two branches of a diamond at the same time, and the join after both', async () => {
    const { ok, status } = await run({
      name: 'diamond-timing',
      steps: {
        a: { uses: 'echo', with: { v: 1 } },
        b: { uses: 'sleep', needs: ['a'], with: { duration: '1500ms' } },
        c: { uses: 'sleep', needs: ['a'], with: { duration: '1500ms' } },
        d: { uses: 'echo', needs: ['b', 'c'], with: { sum: '${{ steps.a.outputs.v + 1 }}' } },
      },
    });
    expect(ok).toBe(true);
    const [b, c, d] = [status.steps.b, status.steps.c, status.steps.d];
    // Overlapping run windows: each sleep started before the other ended.
    expect(ms(b.startedAt)).toBeLessThan(ms(c.endedAt));
    expect(ms(c.startedAt)).toBeLessThan(ms(b.endedAt));
    expect(ms(d.startedAt)).toBeGreaterThanOrEqual(Math.max(ms(b.endedAt), ms(c.endedAt)));
    expect(d.outputsSummary).toBe('{"sum":2}');
  });

  it('retries a failing step by its policy and records the attempts', async () => {
    const { ok, status } = await run({
      name: 'retries',
      steps: {
        flaky: { uses: 'fail', retry: { maxAttempts: 4, initialInterval: '100ms' }, with: { failAttempts: 2 } },
      },
    });
    expect(ok).toBe(true);
    expect(status.steps.flaky).toMatchObject({ state: 'succeeded', attempts: 3 });
  });

  it('stops a non-retryable error after one attempt and fails the run with it', async () => {
    const { ok, error, status } = await run({
      name: 'non-retryable',
      steps: {
        bad: {
          uses: 'fail',
          retry: { maxAttempts: 5, initialInterval: '100ms', nonRetryable: ['BadInput'] },
          with: { type: 'BadInput', message: 'column "x" is missing' },
        },
        after: { uses: 'echo', needs: ['bad'] },
      },
    });
    expect(ok).toBe(false);
    expect(rootCause(error)).toMatchObject({ type: 'BadInput', message: 'column "x" is missing' });
    expect(status.steps.bad).toMatchObject({ state: 'failed', attempts: 1, error: { type: 'BadInput' } });
    expect(status.steps.after.state).toBe('skipped');
    expect(status.state).toBe('failed');
  });

  it('rolls back completed steps in reverse completion order after a late failure', async () => {
    const log = path.join(tmp, 'rollback-late.log');
    const { ok, error, status } = await run({
      name: 'rollback-late',
      steps: {
        a: {
          ...appendTo(log, 'do-a'),
          rollback: { uses: 'command', with: { run: ['sh', '-c', `echo undo-a >> ${log}`] } },
        },
        b: {
          ...appendTo(log, 'do-b'),
          needs: ['a'],
          rollback: { uses: 'command', with: { run: ['sh', '-c', `echo undo-b >> ${log}`] } },
        },
        plain: { uses: 'echo', needs: ['a'] },
        c: {
          ...appendTo(log, 'do-c'),
          needs: ['b'],
          rollback: {
            uses: 'command',
            with: { run: ['sh', '-c', `echo undo-c-\${{ steps.c.outputs.exitCode }} >> ${log}`] },
          },
        },
        boom: { uses: 'fail', needs: ['c', 'plain'], retry: { maxAttempts: 1 }, with: { message: 'late failure' } },
      },
    });
    expect(ok).toBe(false);
    expect(rootCause(error).message).toBe('late failure');
    expect(lines(log)).toEqual(['do-a', 'do-b', 'do-c', 'undo-c-0', 'undo-b', 'undo-a']);
    expect(status.rolledBack).toEqual(['c', 'b', 'a']);
    for (const id of ['a', 'b', 'c'])
      expect(status.steps[id]).toMatchObject({ state: 'rolledBack', rollback: { state: 'succeeded' } });
    expect(status.steps.plain.state).toBe('succeeded'); // no rollback declared: nothing to undo
    expect(status.error).toMatchObject({ step: 'boom', message: 'late failure' });
  });

  it('rolls back completed steps when the run is cancelled, and stops the running one', async () => {
    const log = path.join(tmp, 'rollback-cancel.log');
    const handle = await start({
      name: 'rollback-cancel',
      steps: {
        a: {
          ...appendTo(log, 'do-a'),
          rollback: { uses: 'command', with: { run: ['sh', '-c', `echo undo-a >> ${log}`] } },
        },
        long: {
          uses: 'command',
          needs: ['a'],
          heartbeat: '5s',
          with: { run: ['sh', '-c', `echo started >> ${log}; sleep 60; echo finished >> ${log}`] },
        },
      },
    });
    await waitFor(async () => lines(log).includes('started'));
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
    const status = await handle.query<RunStatus>('status');
    expect(status.state).toBe('cancelled');
    expect(status.steps.long.state).toBe('cancelled');
    expect(status.rolledBack).toEqual(['a']);
    await new Promise((r) => setTimeout(r, 500));
    expect(lines(log)).toEqual(['do-a', 'started', 'undo-a']); // the sleep's process tree was killed
  });

  it('waits at an approval step: approve continues, reject fails and rolls back', async () => {
    const def = {
      name: 'approval',
      steps: {
        build: { uses: 'echo', with: { v: 1 }, rollback: { uses: 'echo', with: { undo: true } } },
        gate: { uses: 'approval', needs: ['build'] },
        ship: { uses: 'echo', needs: ['gate'], with: { by: '${{ steps.gate.outputs.by }}' } },
      },
    };
    const yes = await start(def);
    await waitFor(async () => (await yes.query<RunStatus>('status')).steps.gate.waitingFor === 'approval');
    await yes.signal('approve', { step: 'gate', by: 'alice', comment: 'ok' });
    const result = (await yes.result()) as PipelineResult;
    expect(result.steps.ship.outputs).toEqual({ by: 'alice' });
    expect((await yes.query<RunStatus>('status')).steps.gate.approval).toEqual({
      decision: 'approved',
      by: 'alice',
      comment: 'ok',
    });

    const no = await start(def);
    await waitFor(async () => (await no.query<RunStatus>('status')).steps.gate.waitingFor === 'approval');
    await no.signal('reject', { step: 'gate', by: 'bob', comment: 'AUC too low' });
    const err = await no.result().catch((e: unknown) => e);
    expect(rootCause(err)).toMatchObject({
      type: 'ApprovalRejected',
      message: 'approval step "gate" was rejected by bob: AUC too low',
    });
    const status = await no.query<RunStatus>('status');
    expect(status.steps.ship.state).toBe('skipped');
    expect(status.rolledBack).toEqual(['build']);
  });

  it('skips a step whose `if` is false, and everything that needs it', async () => {
    const { ok, status, result } = await run(
      {
        name: 'conditions',
        params: { deploy: { type: 'boolean', default: false } },
        steps: {
          train: { uses: 'echo', with: { auc: 0.8 } },
          deploy: { uses: 'echo', needs: ['train'], if: '${{ params.deploy && steps.train.outputs.auc > 0.7 }}' },
          notify: { uses: 'echo', needs: ['deploy'] },
          report: { uses: 'echo', needs: ['train'], if: '${{ steps.train.outputs.auc > 0.7 }}' },
        },
      },
      { deploy: false },
    );
    expect(ok).toBe(true);
    expect(status.steps.deploy.state).toBe('skipped');
    expect(status.steps.notify.state).toBe('skipped');
    expect(status.steps.report.state).toBe('succeeded');
    expect(result!.steps.notify.state).toBe('skipped');
  });

  it('fans out forEach with a concurrency limit and returns outputs in input order', async () => {
    const log = path.join(tmp, 'foreach.log');
    const { ok, result } = await run({
      name: 'foreach',
      steps: {
        fan: {
          uses: 'command',
          forEach: '${{ range(6) }}',
          concurrency: 2,
          with: {
            run: [
              'sh',
              '-c',
              `echo "start $(date +%s%N)" >> ${log}; sleep 0.$(( (5 - \${{ item }}) * 6 )); echo "end $(date +%s%N)" >> ${log}; echo '{"i": \${{ item }}}' > $MLPIPE_OUTPUTS`,
            ],
          },
        },
      },
    });
    expect(ok).toBe(true);
    expect((result!.steps.fan.outputs as { i: number }[]).map((o) => o.i)).toEqual([0, 1, 2, 3, 4, 5]);
    // Never more than two items running at once.
    const events = lines(log)
      .map((l) => l.split(' '))
      .map(([kind, t]) => ({ kind, t: BigInt(t) }))
      .sort((x, y) => (x.t < y.t ? -1 : x.t > y.t ? 1 : x.kind === 'end' ? -1 : 1));
    let running = 0;
    let peak = 0;
    for (const e of events) {
      running += e.kind === 'start' ? 1 : -1;
      peak = Math.max(peak, running);
    }
    expect(events.length).toBe(12);
    expect(peak).toBe(2);
  });

  it('runs a 1,000-item forEach in batches of child workflows, keeping every history small', async () => {
    const { ok, result, handle } = await run({
      name: 'thousand',
      steps: { fan: { uses: 'echo', forEach: '${{ range(1000) }}', concurrency: 50, with: { i: '${{ item }}' } } },
    });
    expect(ok).toBe(true);
    const out = result!.steps.fan.outputs as { i: number }[];
    expect(out.length).toBe(1000);
    expect(out.every((o, i) => o.i === i)).toBe(true);
    const parentEvents = (await handle.fetchHistory()).events!.length;
    expect(parentEvents).toBeLessThan(100); // 5 child workflows, not 1,000 activities
    const batch = await client.workflow.getHandle(`${handle.workflowId}/fan/0`).fetchHistory();
    expect(batch.events!.length).toBeLessThan(1000);
  });

  it('reuses the outputs of a cached step on a rerun with the same inputs', async () => {
    const log = path.join(tmp, 'cache.log');
    const token = uniqueId('c');
    const def = {
      name: 'cache',
      steps: {
        expensive: {
          uses: 'command',
          cache: true,
          with: { run: ['sh', '-c', `echo ran >> ${log}; echo '{"token": "${token}"}' > $MLPIPE_OUTPUTS`] },
        },
        use: { uses: 'echo', needs: ['expensive'], with: { t: '${{ steps.expensive.outputs.token }}' } },
      },
    };
    const first = await run(def);
    const second = await run(def);
    expect(first.status.steps.expensive.state).toBe('succeeded');
    expect(second.status.steps.expensive.state).toBe('cached');
    expect(second.result!.steps.use.outputs).toEqual({ t: token });
    expect(lines(log)).toEqual(['ran']);
  });

  it('routes queue: gpu steps to the GPU worker with a CUDA_VISIBLE_DEVICES slot', async () => {
    const { ok, handle, result } = await run({
      name: 'gpu-routing',
      steps: {
        cpu: {
          uses: 'command',
          with: { run: ['sh', '-c', 'echo "{\\"cuda\\": \\"${CUDA_VISIBLE_DEVICES-unset}\\"}" > $MLPIPE_OUTPUTS'] },
        },
        gpu: {
          uses: 'command',
          queue: 'gpu',
          with: { run: ['sh', '-c', 'echo "{\\"cuda\\": \\"${CUDA_VISIBLE_DEVICES-unset}\\"}" > $MLPIPE_OUTPUTS'] },
        },
      },
    });
    expect(ok).toBe(true);
    expect(result!.steps.cpu.outputs).toMatchObject({ cuda: 'unset' });
    // No GPU on the test machine: the fallback slot hides all devices.
    expect(result!.steps.gpu.outputs).toMatchObject({ cuda: '', cudaVisibleDevices: '' });
    const history = await handle.fetchHistory();
    const queues = history.events!.flatMap((e) =>
      e.activityTaskScheduledEventAttributes?.activityType?.name === 'runStep'
        ? [e.activityTaskScheduledEventAttributes.taskQueue!.name]
        : [],
    );
    expect(queues.sort()).toEqual(['mlpipe-cpu', 'mlpipe-gpu']);
  });

  it('runs a nested pipeline as a child workflow and uses its outputs', async () => {
    const { ok, result, handle } = await run({
      name: 'parent',
      steps: {
        child: { uses: 'pipeline', with: { pipeline: 'hello', params: {} } },
        after: { uses: 'echo', needs: ['child'], with: { got: '${{ steps.child.outputs }}' } },
      },
    });
    expect(ok).toBe(true);
    expect(result!.steps.after.outputs).toEqual({ got: result!.steps.child.outputs });
    const child = await client.workflow.getHandle(`${handle.workflowId}/child`).describe();
    expect(child.status.name).toBe('COMPLETED');
  });

  it('fails a step whose outputs are over 256 KB, saying to use an artifact', async () => {
    const { ok, error, status } = await run({
      name: 'too-large',
      steps: {
        big: {
          uses: 'command',
          with: {
            run: ['sh', '-c', `printf '{"blob":"%s"}' "$(head -c 300000 /dev/zero | tr '\\0' a)" > $MLPIPE_OUTPUTS`],
          },
        },
      },
    });
    expect(ok).toBe(false);
    expect(rootCause(error).type).toBe('StepOutputTooLarge');
    expect(rootCause(error).message).toMatch(/over the 256 KB limit: write large results to an artifact/);
    expect(status.steps.big.attempts).toBe(1);
  });

  it('fails fast with a clear non-retryable error for a bad definition, unknown pipeline or bad params', async () => {
    const bad = await run({ name: 'bad', steps: { a: { uses: 'echo', needs: ['nope'] } } });
    expect(rootCause(bad.error)).toMatchObject({ type: 'DefinitionInvalid' });
    expect(rootCause(bad.error).message).toContain('nope');

    const missing = await client.workflow
      .execute('pipeline', {
        taskQueue: 'mlpipe',
        workflowId: uniqueId('missing'),
        args: [{ pipeline: 'no-such-pipeline' }],
      })
      .catch((e: unknown) => e);
    expect(rootCause(missing)).toMatchObject({ type: 'PipelineNotFound' });

    const params = await run(
      { name: 'typed', params: { n: { type: 'number' } }, steps: { a: { uses: 'echo' } } },
      { n: 'abc' },
    );
    expect(rootCause(params.error)).toMatchObject({ type: 'ParamsInvalid' });
    expect(rootCause(params.error).message).toContain('param "n"');
  });

  it('sets the MlpipePipeline and MlpipeStatus search attributes', async () => {
    const { handle } = await run({ name: 'searchable', steps: { a: { uses: 'echo' } } });
    const d = await handle.describe();
    expect(d.searchAttributes.MlpipePipeline).toEqual(['searchable']);
    expect(d.searchAttributes.MlpipeStatus).toEqual(['succeeded']);
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition not met in time');
}
