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
      ['approval', 'diamond', 'if-and-foreach', 'linear', 'nested', 'retry', 'rollback', 'wide-fan-out'].map(
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

  it('catches a workflow that schedules the same steps in another order', async () => {
    const diamond = histories.find((h) => h.workflowId === 'replay-diamond')!;
    const err = await Worker.runReplayHistory(
      { workflowsPath: path.join(__dirname, 'fixtures', 'reordered-workflows.ts') },
      diamond.history,
      diamond.workflowId,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeterminismViolationError);
  });
});
