import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PIPELINE_JSON_SCHEMA_FILE, pipelineJsonSchema } from './json-schema';

describe('pipelineJsonSchema', () => {
  const schema = pipelineJsonSchema() as any;

  it('is generated from the zod schema, in the authored form', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.required).toEqual(['name', 'steps']);
    expect(schema.additionalProperties).toBe(false);
    const step = schema.properties.steps.additionalProperties;
    expect(schema.properties.steps.propertyNames.pattern).toBe('^[a-zA-Z_][a-zA-Z0-9_-]*$');
    expect(step.required).toEqual(['uses']);
    expect(step.properties.needs.anyOf.map((s: { type: string }) => s.type)).toEqual(['string', 'array']);
    expect(step.properties.queue.enum).toEqual(['cpu', 'gpu']);
    expect(step.properties.timeout.anyOf[0].pattern).toMatch(/ms\|s\|m\|h\|d/);
  });

  it('definitions/pipeline.schema.json is up to date', () => {
    // Regenerate: npx tsx -e "require('./definitions/json-schema').writePipelineJsonSchema()" && npx prettier --write definitions/pipeline.schema.json
    const committed = JSON.parse(fs.readFileSync(PIPELINE_JSON_SCHEMA_FILE, 'utf8')) as unknown;
    expect(committed).toEqual(schema);
  });
});
