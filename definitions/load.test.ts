import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatIssues } from './issues';
import { findPipeline, findPipelineFile, listPipelines, loadDefinitionFile, loadDefinitionText } from './load';

const fixtures = path.join(__dirname, 'fixtures');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlpipe-load-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(tmp, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

describe('TypeScript definitions', () => {
  it('loads the default export and validates it', async () => {
    const result = await loadDefinitionFile(path.join(fixtures, 'ts-pipeline.ts'));
    expect(result.issues).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.definition?.name).toBe('ts-pipeline');
    expect(result.definition?.steps.train.needs).toEqual(['prepare']);
    expect(result.definition?.steps.gate.if).toBe('${{ params.minAuc > 0.5 }}');
  });

  it('loads a `pipeline` export', async () => {
    const result = await loadDefinitionFile(path.join(fixtures, 'named-export.ts'));
    expect(result.ok).toBe(true);
    expect(result.definition?.steps.only.uses).toBe('echo');
  });

  it('reports validation issues with the file (no positions for code)', async () => {
    const file = path.join(fixtures, 'invalid-ts.ts');
    const result = await loadDefinitionFile(file);
    expect(result.ok).toBe(false);
    expect(formatIssues(result.issues).split('\n')).toEqual([
      `${file}  steps.train.needs[0]: unknown step "prep" (did you mean "prepare"?)`,
      `${file}  steps.prepare.uses: unknown step type "comand" (did you mean "command"?)`,
    ]);
  });

  it('reports modules without a definition, or that throw', async () => {
    expect((await loadDefinitionFile(path.join(fixtures, 'no-export.ts'))).issues[0].message).toBe(
      'the module has no default export (nor a "pipeline" export) to use as definition',
    );
    expect((await loadDefinitionFile(path.join(fixtures, 'throws.ts'))).issues[0].message).toBe(
      'cannot load module: boom while loading',
    );
  });
});

describe('YAML and JSON files', () => {
  it('duplicate step ids in a file', async () => {
    const file = write('dup.yaml', 'name: dup\nsteps:\n  a: { uses: echo }\n  a: { uses: echo }\n');
    const result = await loadDefinitionFile(file);
    expect(formatIssues(result.issues)).toBe(`${file}:4:3  steps.a: duplicate step id "a" (first defined on line 3)`);
  });

  it('JSON keeps positions', async () => {
    const file = write(
      'p.json',
      JSON.stringify({ name: 'p', steps: { a: { uses: 'echo' }, b: { uses: 'echo', needs: ['x'] } } }, null, 2),
    );
    const result = await loadDefinitionFile(file);
    expect(formatIssues(result.issues)).toBe(`${file}:10:9  steps.b.needs[0]: unknown step "x"`);
  });

  it('JSON syntax errors', async () => {
    const file = write('bad.json', '{\n  "name": "p",\n  "steps": {,\n}\n');
    const result = await loadDefinitionFile(file);
    expect(result.ok).toBe(false);
    expect(result.issues).toHaveLength(1);
    expect(result.issues[0]).toMatchObject({ file, line: 3, column: 13, path: [] });
    expect(result.issues[0].message).toMatch(/^invalid JSON: /);
  });

  it('YAML syntax errors have a line', () => {
    const result = loadDefinitionText('name: p\nsteps:\n  a: [1\n', { file: 'x.yaml' });
    expect(result.ok).toBe(false);
    expect(result.issues[0]).toMatchObject({ file: 'x.yaml', line: 4, path: [] });
  });

  it('missing files and other extensions', async () => {
    expect((await loadDefinitionFile(path.join(tmp, 'nope.yaml'))).issues[0].message).toMatch(
      /^cannot read .*nope\.yaml: ENOENT$/,
    );
    expect((await loadDefinitionFile(path.join(tmp, 'nope.ts'))).issues[0].message).toMatch(/no such file$/);
    expect((await loadDefinitionFile('p.txt')).issues[0].message).toBe(
      'unsupported file type ".txt": use .yaml, .yml, .json, .ts, .mts, .js',
    );
  });

  it('YAML anchors and merge keys work', () => {
    const result = loadDefinitionText(
      ['name: p', 'x-retry: &retry { maxAttempts: 5 }', 'steps:', '  a: { uses: echo, retry: *retry }'].join('\n'),
    );
    // Unknown top-level keys are still errors, anchors or not.
    expect(formatIssues(result.issues)).toBe('(text):2:1  x-retry: unknown key "x-retry"');
    const merged = loadDefinitionText(
      ['name: p', 'steps:', '  a: &base { uses: echo, timeout: 1m }', '  b: { <<: *base, needs: a }'].join('\n'),
    );
    expect(merged.issues).toEqual([]);
    expect(merged.definition?.steps.b).toMatchObject({ uses: 'echo', timeout: '1m', needs: ['a'] });
  });
});

describe('finding pipelines by name', () => {
  const first = path.join(tmp, 'dirs', 'first');
  const second = path.join(tmp, 'dirs', 'second');
  write('dirs/first/alpha.yaml', 'name: alpha\nsteps:\n  a: { uses: pipeline, with: { pipeline: beta } }\n');
  write('dirs/first/typo.yaml', 'name: typo\nsteps:\n  a: { uses: pipeline, with: { pipeline: alpah } }\n');
  write('dirs/second/alpha.yaml', 'name: alpha-shadowed\nsteps:\n  a: { uses: echo }\n');
  write('dirs/second/beta.json', '{"name": "beta", "steps": {"a": {"uses": "echo"}}}');
  write('dirs/second/gamma.ts', "export default { name: 'gamma', steps: { a: { uses: 'echo' } } };\n");
  write('dirs/second/notes.md', '# not a pipeline\n');

  it('lists pipelines; an earlier folder wins', () => {
    expect(listPipelines([first, second, path.join(tmp, 'missing')])).toEqual([
      { name: 'alpha', file: path.join(first, 'alpha.yaml') },
      { name: 'beta', file: path.join(second, 'beta.json') },
      { name: 'gamma', file: path.join(second, 'gamma.ts') },
      { name: 'typo', file: path.join(first, 'typo.yaml') },
    ]);
  });

  it('finds and loads by name, checking child pipelines against the others', async () => {
    expect((await findPipeline('alpha', [first, second]))?.definition?.name).toBe('alpha');
    expect((await findPipeline('gamma', [first, second]))?.ok).toBe(true);
    expect(await findPipeline('delta', [first, second])).toBeUndefined();
    const typo = await findPipeline('typo', [first, second]);
    expect(typo?.issues.map((i) => i.message)).toEqual(['unknown pipeline "alpah" (did you mean "alpha"?)']);
  });

  it('never leaves the folders', () => {
    expect(findPipelineFile('../first/alpha', [second])).toBeUndefined();
    expect(findPipelineFile('/etc/passwd', [second])).toBeUndefined();
    expect(findPipelineFile('beta', [second])).toBe(path.join(second, 'beta.json'));
  });

  it('the shipped folder has hello', () => {
    expect(listPipelines([path.join(__dirname, 'pipelines')]).map((p) => p.name)).toContain('hello');
  });
});
