// Builds the browser bundle (one ESM file, no runtime dependency) and, with --report, prints its size.
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist/browser/moltbeat.min.js');

await build({
  entryPoints: [join(root, 'src/index.ts')],
  outfile,
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020'],
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});

if (process.argv.includes('--report')) {
  const code = readFileSync(outfile);
  const gz = gzipSync(code, { level: 9 });
  console.log(`dist/browser/moltbeat.min.js: ${code.length} bytes minified, ${gz.length} bytes minified+gzipped`);
}
