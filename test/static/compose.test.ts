import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ENV_NAMES } from '../../config/env';
import { buildProgram } from '../../cli/main';
import { WORKER_ROLES } from '../../workers/create-workers';

// There is no Docker engine on the build machines: docker-compose.yml is checked statically.
const root = path.join(__dirname, '..', '..');
const compose = parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, any>;
  volumes: Record<string, unknown>;
};
const mlpipeServices = Object.entries(compose.services).filter(([, s]) => s.image === 'mlpipe:latest');

describe('docker-compose.yml', () => {
  it('has the production topology', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      [
        'minio',
        'minio-init',
        'orchestrator',
        'postgresql',
        'serving',
        'temporal',
        'temporal-setup',
        'temporal-ui',
        'worker-cpu',
        'worker-gpu',
      ].sort(),
    );
    expect(compose.services.temporal.environment.DB).toBe('postgres12');
    expect(compose.services.temporal.image).toMatch(/^temporalio\//);
    expect(compose.services['temporal-ui'].image).toMatch(/^temporalio\/ui:/);
  });

  it('publishes the default ports of DESIGN.md', () => {
    const ports = (name: string) => compose.services[name].ports as string[];
    expect(ports('temporal')).toContain('7233:7233');
    expect(ports('temporal-ui')).toContain('8233:8233');
    expect(ports('minio')).toContain('9000:9000');
    expect(ports('serving')).toContain('8080:8080');
  });

  it('gives mlpipe services only environment variables the config module knows, pointing at the right hosts', () => {
    expect(mlpipeServices.map(([n]) => n).sort()).toEqual(['orchestrator', 'serving', 'worker-cpu', 'worker-gpu']);
    for (const [name, svc] of mlpipeServices) {
      for (const key of Object.keys(svc.environment)) {
        expect(ENV_NAMES, `${name}: ${key}`).toContain(key);
      }
      expect(svc.environment.TEMPORAL_ADDRESS).toBe('temporal:7233');
      expect(svc.environment.MLPIPE_S3_ENDPOINT).toBe('http://minio:9000');
    }
  });

  it('runs each worker role in its own scalable service, the GPU one with an NVIDIA reservation', () => {
    const roles = mlpipeServices
      .filter(([, s]) => s.command[0] === 'worker')
      .map(([, s]) => s.command[s.command.indexOf('--role') + 1]);
    expect(roles.sort()).toEqual([...WORKER_ROLES].sort());
    expect(compose.services['worker-cpu'].deploy.replicas).toBeGreaterThan(1);
    const devices = compose.services['worker-gpu'].deploy.resources.reservations.devices;
    expect(devices[0]).toMatchObject({ driver: 'nvidia', capabilities: ['gpu'] });
  });

  it('uses mlpipe CLI commands that exist', () => {
    const commands = buildProgram().commands.map((c) => c.name());
    for (const [name, svc] of mlpipeServices) {
      // `serve` lands with the serving issue; every other command must exist today.
      if (svc.command[0] === 'serve') continue;
      expect(commands, name).toContain(svc.command[0]);
    }
  });

  it('has a Dockerfile whose entry point is the mlpipe CLI', () => {
    const dockerfile = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/ENTRYPOINT \["node", "\/app\/bin\/mlpipe.js"\]/);
    expect(dockerfile).toContain('ONNXRUNTIME_NODE_INSTALL=skip');
  });
});
