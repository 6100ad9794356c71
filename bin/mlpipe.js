#!/usr/bin/env node
// Runs the compiled CLI when it exists (npm start builds it); otherwise the TypeScript sources through tsx.
const fs = require('node:fs');
const path = require('node:path');

const compiled = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
if (fs.existsSync(compiled) && !process.env.MLPIPE_FROM_SOURCE) {
  void require(compiled).main();
} else {
  require('tsx/cjs/api').register();
  void require('../cli/main.ts').main();
}
