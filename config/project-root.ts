import fs from 'node:fs';
import path from 'node:path';

let root: string | undefined;

/**
 * The folder holding mlpipe's package.json: the sources' parent when run through tsx, the parent of `dist/` when
 * compiled. Files that ship beside the code (scripts/, definitions/pipelines/, devserver/) are found from here.
 */
export function projectRoot(): string {
  if (root) return root;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (
      fs.existsSync(manifest) &&
      (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === 'mlpipe'
    ) {
      return (root = dir);
    }
    if (path.dirname(dir) === dir) throw new Error(`mlpipe's package.json not found above ${__dirname}`);
  }
}
