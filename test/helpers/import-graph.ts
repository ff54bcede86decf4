import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** One import of a project file by another, as repository-relative paths. */
export interface ImportEdge {
  from: string;
  to: string;
  /** True for `import type` / `export type` (erased at compile time). */
  typeOnly: boolean;
}

/** Every .ts file under `dirs` (repository-relative, forward slashes), sorted. */
export function sourceFiles(root: string, dirs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.ts')) out.push(rel);
    }
  };
  for (const dir of dirs) walk(dir);
  return out.sort();
}

/** The project-relative imports (static imports and re-exports) of each file; package imports are left out. */
export function importEdges(root: string, files: readonly string[]): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const from of files) {
    const source = ts.createSourceFile(from, readFileSync(path.join(root, from), 'utf8'), ts.ScriptTarget.ES2022, false);
    for (const statement of source.statements) {
      let specifier: ts.Expression | undefined;
      let typeOnly = false;
      if (ts.isImportDeclaration(statement)) {
        specifier = statement.moduleSpecifier;
        const clause = statement.importClause;
        const named = clause?.namedBindings;
        typeOnly =
          clause !== undefined &&
          (clause.isTypeOnly ||
            (clause.name === undefined && named !== undefined && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly)));
      } else if (ts.isExportDeclaration(statement) && statement.moduleSpecifier !== undefined) {
        specifier = statement.moduleSpecifier;
        typeOnly = statement.isTypeOnly;
      }
      if (specifier === undefined || !ts.isStringLiteral(specifier) || !specifier.text.startsWith('.')) continue;
      const base = path.posix.join(path.posix.dirname(from), specifier.text);
      const to = [`${base}.ts`, `${base}/index.ts`].find((candidate) => existsSync(path.join(root, candidate)));
      if (to === undefined) throw new Error(`${from}: cannot resolve ${specifier.text}`);
      edges.push({ from, to, typeOnly });
    }
  }
  return edges;
}

/** The import cycles among `edges`: each as the list of files on it, first file repeated at the end. */
export function findCycles(edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) next.set(from, [...(next.get(from) ?? []), to]);
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const to of next.get(file) ?? []) {
      if (state.get(to) === 'open') cycles.push([...stack.slice(stack.indexOf(to)), to]);
      else if (state.get(to) === undefined) visit(to);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...next.keys()].sort()) if (state.get(file) === undefined) visit(file);
  return cycles;
}

/** Where a layer's files may import from (path prefixes, repository-relative); the first matching layer applies. */
export interface LayerRule {
  /** Path prefix of the layer's files. */
  layer: string;
  /** Path prefixes its files may import (its own prefix is always allowed). */
  may: readonly string[];
  /** Path prefixes its files may not import even though `may` (or its own prefix) allows them. */
  mayNot?: readonly string[];
}

/** Leaf utilities at the top of lib/ (logger, version, config-file parser): they import nothing of ours, so any layer but the protocol may use them. */
const LEAVES = ['lib/log.ts', 'lib/version.ts', 'lib/config-file.ts'];

/**
 * mychat's layering (README "Design"): protocol <- core <- history/codec/transport <- daemon, and the client
 * reads only the protocol, and so does the browser client (web/). lib/history implements the core's ports and may import nothing else of the core.
 * The core speaks events, not wire text, so it may not import the mychat line format (server-lines.ts);
 * codecs turn events into bytes and see only the events, the ports and the protocol.
 */
export const LAYERS: readonly LayerRule[] = [
  { layer: 'lib/protocol/', may: [] },
  { layer: 'lib/core/', may: ['lib/protocol/', ...LEAVES], mayNot: ['lib/protocol/server-lines.ts'] },
  { layer: 'lib/history/', may: ['lib/protocol/', 'lib/core/ports/', ...LEAVES] },
  { layer: 'lib/codec/', may: ['lib/core/events.ts', 'lib/core/ports/', 'lib/protocol/'] },
  { layer: 'lib/transport/', may: ['lib/codec/', 'lib/core/', 'lib/protocol/', ...LEAVES] },
  { layer: 'lib/cluster/', may: ['lib/core/', 'lib/protocol/', ...LEAVES] },
  { layer: 'lib/client/', may: ['lib/protocol/', ...LEAVES] },
  ...LEAVES.map((leaf) => ({ layer: leaf, may: [] })),
  { layer: 'daemon/', may: ['lib/'] },
  // The browser client is bundled for the browser: it may read the protocol (command catalogue, limits, text hygiene), nothing else of ours.
  { layer: 'web/', may: ['lib/protocol/'] },
];

/** Every import that breaks `rules`, as "from -> to" lines; a file no rule covers is reported too. */
export function layerViolations(edges: readonly ImportEdge[], rules: readonly LayerRule[] = LAYERS): string[] {
  const problems: string[] = [];
  for (const { from, to } of edges) {
    const rule = rules.find((candidate) => from.startsWith(candidate.layer));
    if (rule === undefined) problems.push(`${from}: no layer rule covers this file (add one to LAYERS)`);
    else if (!to.startsWith(rule.layer) && !rule.may.some((prefix) => to.startsWith(prefix))) problems.push(`${from} -> ${to}`);
    else if (rule.mayNot?.some((prefix) => to.startsWith(prefix)) === true) problems.push(`${from} -> ${to}`);
  }
  return [...new Set(problems)];
}
