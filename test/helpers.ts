import { Client, Connection } from '@temporalio/client';
import { inject } from 'vitest';

/** A Temporal client on the test stack; close it in afterAll. */
export async function testClient(): Promise<{ client: Client; connection: Connection }> {
  const stack = inject('stack');
  const connection = await Connection.connect({ address: stack.temporalAddress });
  return { client: new Client({ connection, namespace: 'default' }), connection };
}

/** A workflow id unique to this test run. */
export const uniqueId = (prefix: string) =>
  `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
