// The README's React example must compile with `tsc --strict` against this package's sources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

const JS_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..'); // build/test/unit -> clients/js

test('the README React hook example compiles with tsc --strict', () => {
  const readme = readFileSync(join(JS_ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```tsx\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 1, 'the README has a tsx example');

  const dir = join(JS_ROOT, 'build/readme-check');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // `export {}`: each example is a module of its own.
  const files = blocks.map((code, i) => {
    const name = `example-${i + 1}.tsx`;
    writeFileSync(join(dir, name), `${code}\nexport {};\n`);
    return name;
  });
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        jsx: 'react-jsx',
        target: 'ES2022',
        module: 'ESNext',
        moduleResolution: 'bundler',
        lib: ['ES2022', 'DOM'],
        types: [],
        skipLibCheck: true,
        paths: {
          '@moltbeat/websocket': ['../../src/index.ts'],
          '@moltbeat/websocket/react': ['../../src/react.ts'],
        },
      },
      files,
    }),
  );
  const tsc = join(JS_ROOT, 'node_modules/typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8', stdio: 'pipe' });
  } catch (err: any) {
    assert.fail(`tsc --strict rejects the README example:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
});
