import { echo, fail, sleep } from './basic';
import { command } from './command';
import type { StepHandler } from './types';

/** Step implementations by `uses` name; `approval` and `pipeline` are handled in the workflow itself. */
export const stepHandlers: Record<string, StepHandler> = { echo, sleep, fail, command };

export type { StepContext, StepHandler } from './types';
