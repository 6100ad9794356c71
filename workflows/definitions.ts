import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { RunStatus } from './types';

/** Decision on an `approval` step, sent as signal `approve` or `reject` (from the CLI, a client or the Web UI). */
export interface ApprovalDecision {
  /** Id of the approval step. */
  step: string;
  /** Who decided. */
  by?: string;
  comment?: string;
}

export const approveSignal = defineSignal<[ApprovalDecision]>('approve');
export const rejectSignal = defineSignal<[ApprovalDecision]>('reject');
/** Per-step state of a run: what is running, what succeeded, what was rolled back. */
export const statusQuery = defineQuery<RunStatus>('status');
