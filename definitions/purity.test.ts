import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// What index.ts exports runs inside Temporal's deterministic workflow sandbox: no Node built-ins, no I/O, no clock,
// no randomness. Only load.ts and json-schema.ts (exported by node.ts) may use Node.
const NODE_ONLY = new Set(['load', 'json-schema', 'node']);

function importsOf(file: string): string[] {
  const text = fs
    .readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  return [...text.matchAll(/(?:import|export)\s[^;]*?from\s+'([^']+)'/g)].map((m) => m[1]);
}

describe('definitions/index.ts stays pure', () => {
  const pure = new Set<string>();
  const visit = (name: string) => {
    if (pure.has(name)) return;
    pure.add(name);
    for (const spec of importsOf(path.join(__dirname, `${name}.ts`))) {
      if (spec.startsWith('./')) visit(spec.slice(2));
      else expect(spec, `${name}.ts imports ${spec}`).toBe('zod');
    }
  };
  visit('index');

  it('imports only zod and pure siblings', () => {
    for (const name of pure) expect(NODE_ONLY.has(name), `${name}.ts is reachable from index.ts`).toBe(false);
    expect([...pure]).toEqual(
      expect.arrayContaining(['schema', 'expressions', 'template', 'plan', 'validate', 'params']),
    );
  });

  it('reads no clock and no randomness', () => {
    for (const name of pure) {
      const text = fs.readFileSync(path.join(__dirname, `${name}.ts`), 'utf8');
      expect(text, name).not.toMatch(/Date\.now|new Date\(|Math\.random|process\.|require\(/);
    }
  });
});
