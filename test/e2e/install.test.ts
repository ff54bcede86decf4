import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { register } from '../helpers/client';
import { daemonEnv, startDaemon } from '../helpers/daemon';
import { ROOT, runtimePackages } from '../helpers/runtime';
import { packageVersion } from '../../lib/version';

/*
 * `npm pack` and a global install of the tarball into a temporary prefix, as README's "Install as a
 * service" does into /usr. The tarball packs the dist/ that `npm test` has just built. No registry is
 * reached: the runtime dependencies are packed from node_modules too, and npm gets an empty cache.
 */

interface PackageJson {
  bin: Record<string, string>;
  man: string[];
}

/** Runs npm offline with its own cache in `cache`, so neither the network nor the user's cache is used. */
function npm(args: string[], cwd: string, cache: string) {
  return spawnSync('npm', args, {
    cwd,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, NO_UPDATE_NOTIFIER: '1', npm_config_cache: cache, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' },
  });
}

test('npm pack + npm install -g give a working mychatd, its man pages and the systemd units', async (t) => {
  t.timeout(180_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mychat-install-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackageJson;
  const cache = path.join(dir, 'npm-cache');

  // --ignore-scripts: `prepare` would rebuild dist/ under the feet of the other tests running now.
  const packed = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT, cache);
  t.is(packed.status, 0, packed.stderr);
  const [{ filename, files }] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const contents = files.map((f) => f.path);
  for (const wanted of ['dist/daemon/mychatd.js', 'dist/web/index.html', 'dist/web/app.js', 'systemd/mychatd.service', 'systemd/mychatd.socket', 'man/mychatd.8', 'schema/mychat-json.v1.schema.json', 'README.md']) {
    t.true(contents.includes(wanted), `the tarball has ${wanted}`);
  }
  t.false(contents.some((p) => p.startsWith('test/') || p.startsWith('node_modules/') || (p.endsWith('.ts') && !p.endsWith('.d.ts'))), 'no sources or tests');

  // The runtime dependencies, direct and transitive, at the versions installed in node_modules, packed
  // into tarballs and given to the same install, so npm finds every one of them without a registry.
  const deps = path.join(dir, 'deps');
  fs.mkdirSync(deps);
  const packages = runtimePackages();
  const depsPacked = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', deps, ...packages.map((p) => `./${p.folder}`)], ROOT, cache);
  t.is(depsPacked.status, 0, depsPacked.stderr);
  const depTarballs = (JSON.parse(depsPacked.stdout) as Array<{ filename: string }>).map((d) => path.join(deps, d.filename));
  t.is(depTarballs.length, packages.length);

  // Scripts are off because better-sqlite3 would compile from source (about 60 s); the addon built by
  // `npm install` is copied instead.
  const prefix = path.join(dir, 'prefix');
  const started = Date.now();
  const installed = npm(['install', '-g', '--prefix', prefix, '--ignore-scripts', path.join(dir, filename), ...depTarballs], dir, cache);
  t.is(installed.status, 0, installed.stderr);
  t.log(`npm install -g of the tarball: ${Date.now() - started} ms (without compiling better-sqlite3)`);
  const packageDir = path.join(prefix, 'lib', 'node_modules', 'mychat');
  // The dependencies were installed beside mychat, where Node's lookup from mychat's folder finds them.
  const addon = path.join('better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
  fs.mkdirSync(path.dirname(path.join(prefix, 'lib', 'node_modules', addon)), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'node_modules', addon), path.join(prefix, 'lib', 'node_modules', addon));

  for (const name of Object.keys(pkg.bin)) {
    fs.accessSync(path.join(prefix, 'bin', name), fs.constants.X_OK);
  }
  // Run through the installed link and its #!/usr/bin/env node line, as a user's shell would.
  const env = { ...daemonEnv(), PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` };
  const version = spawnSync(path.join(prefix, 'bin', 'mychatd'), ['--version'], { encoding: 'utf8', env, timeout: 10_000 });
  t.is(version.stdout.trim(), packageVersion());
  t.is(version.status, 0);

  // Each page package.json lists is linked under share/man; pages other engineers have not written yet are noted.
  t.true(pkg.man.includes('man/mychatd.8'));
  for (const page of pkg.man) {
    const section = /\.(\d)$/.exec(page)![1]!;
    const link = path.join(prefix, 'share', 'man', `man${section}`, path.basename(page));
    if (!fs.existsSync(path.join(ROOT, page))) {
      t.not(page, 'man/mychatd.8');
      t.log(`${page} is listed but not written yet`);
      continue;
    }
    t.is(fs.readFileSync(link, 'utf8'), fs.readFileSync(path.join(ROOT, page), 'utf8'), `${page} installed`);
  }
  t.true(fs.existsSync(path.join(packageDir, 'systemd', 'mychatd.service')));

  // The installed copy serves clients.
  const daemon = await startDaemon(['--data-dir', path.join(dir, 'data')], {}, { script: path.join(packageDir, 'dist', 'daemon', 'mychatd.js') });
  t.teardown(() => void daemon.stop('SIGKILL'));
  const client = await register(daemon.port, 'installed');
  client.end();
  t.is(await daemon.stop(), 0);
});
