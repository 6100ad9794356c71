import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, Connection } from '@temporalio/client';
import { testClient, uniqueId } from './helpers';

describe('smoke: the real server routes activities to the CPU and GPU workers', () => {
  let client: Client;
  let connection: Connection;
  beforeAll(async () => ({ client, connection } = await testClient()));
  afterAll(async () => connection?.close());

  it('runs one activity on mlpipe-cpu and one on mlpipe-gpu and says which worker ran each', async () => {
    const workflowId = uniqueId('smoke');
    const result = await client.workflow.execute('smoke', { taskQueue: 'mlpipe', workflowId, args: [{}] });
    expect(result.cpu).toMatchObject({ role: 'cpu', taskQueue: 'mlpipe-cpu' });
    expect(result.gpu).toMatchObject({ role: 'gpu', taskQueue: 'mlpipe-gpu' });
    expect(result.cpu.identity).toMatch(/^cpu@/);
    expect(result.gpu.identity).toMatch(/^gpu@/);

    // The server's own history agrees: the activity tasks were scheduled on the two queues and
    // picked up by workers with those identities.
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const scheduled = history.events!.flatMap((e) =>
      e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.taskQueue!.name] : [],
    );
    expect(scheduled.sort()).toEqual(['mlpipe-cpu', 'mlpipe-gpu']);
    const identities = history.events!.flatMap((e) =>
      e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.identity] : [],
    );
    expect(identities.sort()).toEqual([result.cpu.identity, result.gpu.identity].sort());
  });
});
