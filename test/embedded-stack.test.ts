import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { startEmbeddedStack, type EmbeddedStack } from '../cli/embedded-stack';
import { getFreePort, PortInUse } from '../cli/ports';
import { uniqueId } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlpipe-stack-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function temporalOnly(dbFile: string, port: number, uiPort: number, httpPort: number): Promise<EmbeddedStack> {
  return startEmbeddedStack({
    home: tmp,
    temporal: { port, uiPort, httpPort, dbFile, namespace: 'default' },
    minio: false,
  });
}

describe('embedded Temporal on a SQLite file', () => {
  it('keeps an earlier workflow after kill -9 and a restart', async () => {
    const [port, ui, http] = [await getFreePort(), await getFreePort(), await getFreePort()];
    const db = path.join(tmp, 'temporal.db');
    const workflowId = uniqueId('survivor');

    let stack = await temporalOnly(db, port, ui, http);
    let connection = await Connection.connect({ address: stack.temporalAddress! });
    let client = new Client({ connection });
    // No worker listens on this queue: the run just waits, recorded in the DB.
    await client.workflow.start('pipeline', {
      taskQueue: 'nobody-listens',
      workflowId,
      args: [{ pipeline: 'hello', params: {} }],
      searchAttributes: { MlpipePipeline: ['hello'] },
    });
    await connection.close();
    await stack.temporal!.kill(); // kill -9: no graceful flush

    stack = await temporalOnly(db, port, ui, http);
    connection = await Connection.connect({ address: stack.temporalAddress! });
    client = new Client({ connection });
    try {
      const described = await client.workflow.getHandle(workflowId).describe();
      expect(described.status.name).toBe('RUNNING');
      expect(described.searchAttributes.MlpipePipeline).toEqual(['hello']);
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      expect(history.events![0].workflowExecutionStartedEventAttributes?.workflowType?.name).toBe('pipeline');
    } finally {
      await connection.close();
      await stack.stop();
    }
  });

  it('serves the Web UI with the Start Workflow feature enabled', async () => {
    const [port, ui, http] = [await getFreePort(), await getFreePort(), await getFreePort()];
    const stack = await temporalOnly('', port, ui, http);
    try {
      const page = await fetch(stack.uiUrl!);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<html');
      const settings = (await (await fetch(`${stack.uiUrl}/api/v1/settings`)).json()) as Record<string, unknown>;
      expect(settings.StartWorkflowDisabled).toBe(false);
    } finally {
      await stack.stop();
    }
  });
});

describe('bad start-up conditions', () => {
  it('names a port in use and the flag that moves it, starting nothing', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen({ host: '127.0.0.1', port: 0 }, () => r()));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      const err = await startEmbeddedStack({
        home: tmp,
        temporal: {
          port: taken,
          uiPort: await getFreePort(),
          httpPort: await getFreePort(),
          dbFile: null,
          namespace: 'default',
        },
        minio: false,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PortInUse);
      expect((err as Error).message).toBe(
        `port 127.0.0.1:${taken} (Temporal frontend) is already in use; change it with --temporal-port`,
      );
    } finally {
      blocker.close();
    }
  });
});
