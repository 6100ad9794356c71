import { ApplicationFailure, sleep as activitySleep } from '@temporalio/activity';
import { parseDuration } from '../../definitions/duration';
import type { StepHandler } from './types';

/** `echo`: returns its inputs (handy for wiring and tests). */
export const echo: StepHandler = async (input) => input;

/** `sleep`: waits, heartbeating each second so cancellation arrives promptly. */
export const sleep: StepHandler = async (input: { duration: string | number }, ctx) => {
  const ms = parseDuration(input.duration);
  const until = Date.now() + ms;
  while (Date.now() < until) {
    ctx.heartbeat({ remainingMs: until - Date.now() });
    await activitySleep(Math.min(1000, until - Date.now()));
  }
  return { sleptMs: ms };
};

/** `fail`: fails its first `failAttempts` attempts (all, by default), then succeeds. For tests and examples. */
export const fail: StepHandler = async (
  input: { message?: string; type?: string; nonRetryable?: boolean; failAttempts?: number },
  ctx,
) => {
  if (input.failAttempts === undefined || ctx.attempt <= input.failAttempts) {
    throw ApplicationFailure.create({
      type: input.type ?? 'StepFailed',
      message: input.message ?? `step "${ctx.task.stepId}" failed on purpose (attempt ${ctx.attempt})`,
      nonRetryable: input.nonRetryable ?? false,
    });
  }
  return { attempt: ctx.attempt };
};
