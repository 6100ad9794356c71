import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../config/project-root';
import { z } from 'zod';
import { PipelineSchema } from './schema';

/** Where the generated schema is kept for editors (`# yaml-language-server: $schema=../pipeline.schema.json`). */
export const PIPELINE_JSON_SCHEMA_FILE = path.join(projectRoot(), 'definitions', 'pipeline.schema.json');

/**
 * The JSON Schema of pipeline definitions, generated from the zod schema (the authored form: `needs` may be one
 * string, `if` may be a bare expression). Cross-field rules are not in it; `mlpipe validate` checks those.
 *
 * @example
 * fs.writeFileSync('pipeline.schema.json', JSON.stringify(pipelineJsonSchema(), null, 2));
 */
export function pipelineJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(PipelineSchema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' });
  return { ...schema, $id: 'https://mlpipe.dev/schemas/pipeline.schema.json' };
}

/** Writes {@link pipelineJsonSchema} to `file` (default: definitions/pipeline.schema.json). */
export function writePipelineJsonSchema(file: string = PIPELINE_JSON_SCHEMA_FILE): void {
  fs.writeFileSync(file, `${JSON.stringify(pipelineJsonSchema(), null, 2)}\n`);
}
