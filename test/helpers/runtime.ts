import { chmodSync, cpSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The checkout's root folder. */
export const ROOT = path.join(__dirname, '..', '..');

interface LockFile {
  packages: Record<string, { version: string; dev?: boolean; devOptional?: boolean }>;
}

/**
 * The runtime dependencies installed in node_modules, direct and transitive, as package-lock.json lists
 * them: folder relative to the checkout (e.g. `node_modules/tar-fs/node_modules/chownr`) and exact version.
 */
export function runtimePackages(): Array<{ folder: string; version: string }> {
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as LockFile;
  return Object.entries(lock.packages)
    .filter(([folder, pkg]) => folder !== '' && pkg.dev !== true && pkg.devOptional !== true)
    .map(([folder, pkg]) => ({ folder, version: pkg.version }));
}

/** Parts of better-sqlite3's folder the daemon never loads: the SQLite sources and the compiler's output. */
const BUILD_ONLY = /node_modules\/better-sqlite3\/(deps|src|build\/Release\/(obj|obj\.target|.*\.a$|test_extension\.node))/;

/**
 * Copies what running the built daemon needs (dist/, package.json, the runtime node_modules) to `dest`,
 * readable by every user: a test that runs mychatd as another user must not depend on whether that user
 * may enter the folder the checkout lives in (a `mktemp -d` folder or /root is closed to others).
 */
export function copyRuntime(dest: string): { daemon: string } {
  chmodSync(dest, 0o755);
  for (const part of ['dist', 'package.json', ...runtimePackages().map((p) => p.folder)]) {
    cpSync(path.join(ROOT, part), path.join(dest, part), {
      recursive: true,
      filter: (source) => !BUILD_ONLY.test(source.split(path.sep).join('/')),
    });
  }
  return { daemon: path.join(dest, 'dist', 'daemon', 'mychatd.js') };
}
