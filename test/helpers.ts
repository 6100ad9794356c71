import { Client, Connection } from '@temporalio/client';
import { inject } from 'vitest';
import type * as Minio from 'minio';
import { S3ArtifactStore } from '../storage/artifact-store';
import { createS3Client } from '../storage/s3-client';

/** A Temporal client on the test stack; close it in afterAll. */
export async function testClient(): Promise<{ client: Client; connection: Connection }> {
  const stack = inject('stack');
  const connection = await Connection.connect({ address: stack.temporalAddress });
  return { client: new Client({ connection, namespace: 'default' }), connection };
}

/** A workflow id unique to this test run. */
export const uniqueId = (prefix: string) =>
  `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

/** The real MinIO of the test stack: a minio client and an artifact store on its bucket. */
export function testS3(): { client: Minio.Client; store: S3ArtifactStore; bucket: string } {
  const stack = inject('stack');
  const client = createS3Client({
    endpoint: stack.s3Endpoint,
    accessKey: stack.s3AccessKey,
    secretKey: stack.s3SecretKey,
    region: 'us-east-1',
  });
  return { client, store: new S3ArtifactStore(client, stack.bucket, stack.s3Endpoint), bucket: stack.bucket };
}
