import { ApplicationFailure } from '@temporalio/activity';
import { findPipeline, formatIssues, resolveParams, validateDefinition } from '../definitions/node';
import type { PreparedRun, Queues } from '../workflows/types';
import { ErrorTypes } from '../workflows/errors';

export interface PrepareDeps {
  /** Folders searched for `<name>.yaml|.yml|.json|.ts`. */
  pipelineDirs: string[];
  queues: Queues;
}

export const createPrepareActivities = (deps: PrepareDeps) => ({
  /**
   * Finds and validates the definition, and checks the params against it, before any step runs. Every problem
   * is a non-retryable failure with a message that says what and where.
   */
  async prepareRun(input: { pipeline?: string; definition?: unknown; params?: Record<string, unknown> }) {
    let raw: unknown = input.definition;
    let file = '(inline definition)';
    if (raw === undefined) {
      if (!input.pipeline) {
        throw ApplicationFailure.create({
          type: ErrorTypes.DefinitionInvalid,
          message: 'input needs "pipeline" (a name) or "definition": {"pipeline": "<name>", "params": {...}}',
          nonRetryable: true,
        });
      }
      const found = await findPipeline(input.pipeline, deps.pipelineDirs);
      if (!found) {
        throw ApplicationFailure.create({
          type: ErrorTypes.PipelineNotFound,
          message: `no pipeline named "${input.pipeline}" in ${deps.pipelineDirs.join(', ')}`,
          nonRetryable: true,
        });
      }
      if (!found.ok) {
        throw ApplicationFailure.create({
          type: ErrorTypes.DefinitionInvalid,
          message: `pipeline "${input.pipeline}" is invalid:\n${formatIssues(found.issues)}`,
          nonRetryable: true,
        });
      }
      raw = found.definition;
      file = found.file;
    }
    const checked = validateDefinition(raw);
    if (!checked.ok) {
      throw ApplicationFailure.create({
        type: ErrorTypes.DefinitionInvalid,
        message: `${file} is invalid:\n${formatIssues(checked.issues)}`,
        nonRetryable: true,
      });
    }
    const params = resolveParams(checked.definition, input.params ?? {});
    if (!params.ok) {
      throw ApplicationFailure.create({
        type: ErrorTypes.ParamsInvalid,
        message: `bad params for pipeline "${checked.definition.name}":\n${params.issues.map((i) => `  - ${i}`).join('\n')}`,
        nonRetryable: true,
      });
    }
    const prepared: PreparedRun = { definition: checked.definition, params: params.params, queues: deps.queues };
    return prepared;
  },
});
