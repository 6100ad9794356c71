import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { Table } from '../../ml';
import type { ArtifactStore } from '../../storage/artifact-store';
import { arrowToTable } from './arrow';
import { ErrorTypes } from '../../workflows/errors';

/** A dataset as steps pass it along: where it is and what its bytes hash to. */
export interface DatasetRef {
  uri: string;
  sha256: string;
}

/** The store key behind an `s3://bucket/key` or `file://` URI of this store. */
export function keyOf(store: ArtifactStore, uri: string): string {
  const probe = store.uri('');
  if (!uri.startsWith(probe)) {
    throw ApplicationFailure.create({
      type: ErrorTypes.DatasetNotFound,
      message: `dataset ${uri} is not in this worker's store (${probe})`,
      nonRetryable: true,
    });
  }
  return uri.slice(probe.length);
}

/** Reads bytes by reference, refusing anything whose sha256 differs from the one recorded. */
export async function readVerified(store: ArtifactStore, ref: DatasetRef): Promise<Buffer> {
  const bytes = await store.get(keyOf(store, ref.uri));
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== ref.sha256) {
    throw ApplicationFailure.create({
      type: ErrorTypes.IntegrityCheckFailed,
      message: `${ref.uri}: sha256 is ${actual}, expected ${ref.sha256}; refusing to use it`,
      nonRetryable: true,
    });
  }
  return bytes;
}

/** Loads an Arrow IPC dataset written by the ingest step into a Table. */
export async function readDatasetTable(store: ArtifactStore, ref: DatasetRef): Promise<Table> {
  return arrowToTable(await readVerified(store, ref));
}
