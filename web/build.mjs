// Builds the browser client into dist/web/: web/main.ts bundled and minified by esbuild into app.js, next to
// the static files of web/static/ (the page, its style sheet and icon). Run by `npm run build`.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'web');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [path.join(root, 'web', 'main.ts')],
  outfile: path.join(out, 'app.js'),
  bundle: true,
  minify: true,
  format: 'iife',
  // Browsers of the last few years: \p{…} regular expressions, optional chaining, CSS.escape.
  target: ['es2020', 'chrome90', 'firefox90', 'safari15'],
  legalComments: 'none',
  charset: 'utf8',
  tsconfig: path.join(root, 'web', 'tsconfig.json'),
  logLevel: 'warning',
});
for (const name of readdirSync(path.join(root, 'web', 'static'))) copyFileSync(path.join(root, 'web', 'static', name), path.join(out, name));
const gzip = readdirSync(out).reduce((sum, name) => sum + gzipSync(readFileSync(path.join(out, name)), { level: 9 }).length, 0);
process.stderr.write(`web client: dist/web, ${(gzip / 1024).toFixed(1)} KiB gzip\n`);
