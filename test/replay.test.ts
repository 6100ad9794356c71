import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { temporal } from '@temporalio/proto';

// Histories recorded from real runs (npm run record-histories) and committed: today's workflow code must replay
// them exactly, or runs in flight during an upgrade would break.
const dir = path.join(__dirname, 'fixtures', 'histories');
const histories = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.binpb'))
  .map((f) => ({
    workflowId: `replay-${path.basename(f, '.binpb')}`,
    history: temporal.api.history.v1.History.decode(fs.readFileSync(path.join(dir, f))),
  }));

describe('replay of recorded histories', () => {
  it('has recordings of every DAG shape and behaviour', () => {
    expect(histories.map((h) => h.workflowId).sort()).toEqual(
      ['approval', 'diamond', 'if-and-foreach', 'linear', 'monitor', 'nested', 'retry', 'rollback', 'wide-fan-out'].map(
        (n) => `replay-${n}`,
      ),
    );
  });

  it('replays all of them with the current workflow code', async () => {
    const failures: string[] = [];
    for await (const r of Worker.runReplayHistories(
      { workflowsPath: path.join(__dirname, '..', 'workflows', 'index.ts') },
      histories,
    )) {
      if (r.error) failures.push(`${r.workflowId}: ${r.error.message}`);
    }
    expect(failures).toEqual([]);
  });

  it('holds a monitor run through a deploy, checks, a pause and continue-as-new', () => {
    const events = histories.find((h) => h.workflowId === 'replay-monitor')!.history.events ?? [];
    const signals = events.flatMap((e) => e.workflowExecutionSignaledEventAttributes?.signalName ?? []);
    const activities = events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
    expect(signals).toEqual(['deployed', 'pause', 'checkNow', 'resume']);
    expect(activities).toEqual([
      'checkModel',
      'sendMonitorAlert',
      'startRetrain',
      'sendMonitorAlert',
      'checkModel',
      'checkModel',
    ]);
    expect(events.some((e) => e.timerFiredEventAttributes)).toBe(true);
    expect(events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
  });

  const replayReordered = (name: string) => {
    const { history, workflowId } = histories.find((h) => h.workflowId === `replay-${name}`)!;
    return Worker.runReplayHistory(
      { workflowsPath: path.join(__dirname, 'fixtures', 'reordered-workflows.ts') },
      history,
      workflowId,
    ).catch((e: unknown) => e);
  };

  it('catches a workflow that schedules the same steps in another order', async () => {
    expect(await replayReordered('diamond')).toBeInstanceOf(DeterminismViolationError);
  });

  it('catches a monitor that starts the retrain before it sends the drift alert', async () => {
    const err = await replayReordered('monitor');
    expect(err).toBeInstanceOf(DeterminismViolationError);
    // The break it was built for, not an earlier mismatch.
    expect((err as Error).message).toMatch(/sendMonitorAlert.*startRetrain|startRetrain.*sendMonitorAlert/);
  });
});
