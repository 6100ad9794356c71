import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// `npm start` builds with tsc and runs dist/: the compiled CLI must find what ships beside the code (the Go build
// script, the shipped pipelines, package.json) from dist/ as it does from the sources.
const root = path.join(__dirname, '..');
const node = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  execFileSync(process.execPath, args, {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, MLPIPE_FROM_SOURCE: '', ...env },
  });

describe('the compiled CLI (npm start)', () => {
  it(
    'builds, and from dist/ finds the shipped pipelines, the binaries script and its version',
    { timeout: 180_000 },
    () => {
      execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
        cwd: root,
        stdio: 'inherit',
      });
      const probe = node([
        '-e',
        `const load = require('./dist/definitions/load');
       const { codeVersion } = require('./dist/workers/version');
       const { projectRoot } = require('./dist/config/project-root');
       console.log(JSON.stringify({
         flights: load.findPipelineFile('flights-delay'),
         pipelines: load.listPipelines().map((p) => p.name),
         version: codeVersion,
         root: projectRoot(),
       }));`,
      ]);
      const found = JSON.parse(probe) as { flights: string; pipelines: string[]; version: string; root: string };
      expect(found.root).toBe(root);
      expect(found.flights).toBe(path.join(root, 'definitions', 'pipelines', 'flights-delay.yaml'));
      expect(found.pipelines).toEqual(expect.arrayContaining(['hello', 'flights-delay']));
      expect(found.version).toMatch(/^\d+\.\d+\.\d+/);
      // The binary the user runs takes dist/ when it exists: a shipped pipeline validates through it.
      const validate = spawnSync(
        process.execPath,
        [path.join(root, 'bin', 'mlpipe.js'), 'validate', 'flights-delay.yaml'],
        {
          cwd: path.join(root, 'definitions', 'pipelines'),
          encoding: 'utf8',
          env: { ...process.env, MLPIPE_FROM_SOURCE: '', NO_COLOR: '1' },
        },
      );
      expect(validate.stderr).toContain('✓ flights-delay.yaml');
      expect(validate.status).toBe(0);
    },
  );
});
