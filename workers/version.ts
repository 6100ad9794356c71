import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../config/project-root';

/** mlpipe's version (package.json), part of cache keys and model cards. */
export const codeVersion: string = (
  JSON.parse(fs.readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as { version: string }
).version;
