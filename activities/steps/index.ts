import { echo, fail, sleep } from './basic';
import { command } from './command';
import { deploy, deployRollback } from './deploy';
import { evaluate } from './evaluate';
import { ingest } from './ingest';
import { promoteModel, registerModel, resolveModel } from './registry';
import { trainGbdtStep, trainLinearStep } from './train';
import type { StepHandler } from './types';

/** Step implementations by `uses` name; `approval` and `pipeline` are handled in the workflow itself. */
export const stepHandlers: Record<string, StepHandler> = {
  echo,
  sleep,
  fail,
  command,
  ingest,
  'train.gbdt': trainGbdtStep,
  'train.linear': trainLinearStep,
  evaluate,
  'model.resolve': resolveModel,
  'model.register': registerModel,
  'model.promote': promoteModel,
  deploy,
  'deploy.rollback': deployRollback,
};

export type { StepContext, StepHandler } from './types';
