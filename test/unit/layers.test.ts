import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findCycles, importEdges, layerViolations, sourceFiles, type ImportEdge } from '../helpers/import-graph';

const root = path.resolve(__dirname, '../..');
const edges = importEdges(root, sourceFiles(root, ['lib', 'daemon', 'web']));
const edge = (from: string, to: string, typeOnly = false): ImportEdge => ({ from, to, typeOnly });

test('every import in lib/, daemon/ and web/ follows the layering: protocol <- core <- history/transport <- daemon, client and browser client -> protocol', (t) => {
  // The graph is real: a check that saw no imports would pass whatever the code did.
  t.true(edges.some((e) => e.from === 'lib/core/chat-core.ts' && e.to === 'lib/protocol/limits.ts'));
  t.true(edges.some((e) => e.from === 'lib/client/completion.ts' && e.to === 'lib/protocol/command-catalogue.ts'));
  t.true(edges.some((e) => e.from === 'web/completion.ts' && e.to === 'lib/protocol/command-catalogue.ts'));
  t.deepEqual(layerViolations(edges), []);
  t.deepEqual(layerViolations([edge('web/chat-state.ts', 'lib/core/events.ts', true)]), ['web/chat-state.ts -> lib/core/events.ts']);
});

test('lib/ and daemon/ have no import cycle, counting type-only imports', (t) => {
  t.deepEqual(findCycles(edges), []);
});

test('the layer check catches a forbidden import, type-only ones included, and a file outside every layer', (t) => {
  t.deepEqual(layerViolations([edge('lib/client/completion.ts', 'lib/core/commands/index.ts')]), ['lib/client/completion.ts -> lib/core/commands/index.ts']);
  t.deepEqual(layerViolations([edge('lib/protocol/limits.ts', 'lib/core/errors.ts', true)]), ['lib/protocol/limits.ts -> lib/core/errors.ts']);
  t.deepEqual(layerViolations([edge('lib/history/retention.ts', 'lib/core/chat-core.ts', true)]), ['lib/history/retention.ts -> lib/core/chat-core.ts']);
  t.deepEqual(layerViolations([edge('lib/core/chat-core.ts', 'lib/transport/flood.ts')]), ['lib/core/chat-core.ts -> lib/transport/flood.ts']);
  t.deepEqual(layerViolations([edge('lib/history/history-reader.ts', 'lib/core/ports/history-store.ts', true), edge('daemon/mychatd.ts', 'lib/transport/tcp/tcp-listener.ts')]), []);
  t.deepEqual(layerViolations([edge('lib/codec/json.ts', 'lib/transport/connection.ts'), edge('lib/client/render.ts', 'lib/log.ts'), edge('lib/protocol/limits.ts', 'lib/log.ts')]), [
    'lib/codec/json.ts -> lib/transport/connection.ts',
    'lib/protocol/limits.ts -> lib/log.ts',
  ]);
  t.regex(layerViolations([edge('lib/elsewhere/x.ts', 'lib/protocol/limits.ts')])[0]!, /no layer rule/);
});

test('the core may not import the mychat line format, and a codec sees only the events, the ports and the protocol', (t) => {
  // The real graph: the core emits events and only the mychat codec formats lines.
  t.false(edges.some((e) => e.from.startsWith('lib/core/') && e.to === 'lib/protocol/server-lines.ts'));
  t.true(edges.some((e) => e.from === 'lib/codec/mychat-codec.ts' && e.to === 'lib/protocol/server-lines.ts'));
  t.deepEqual(layerViolations([edge('lib/core/chat-core.ts', 'lib/protocol/server-lines.ts'), edge('lib/core/commands/info-commands.ts', 'lib/protocol/server-lines.ts', true)]), [
    'lib/core/chat-core.ts -> lib/protocol/server-lines.ts',
    'lib/core/commands/info-commands.ts -> lib/protocol/server-lines.ts',
  ]);
  t.deepEqual(layerViolations([edge('lib/core/chat-core.ts', 'lib/protocol/text-hygiene.ts')]), []);
  t.deepEqual(
    layerViolations([
      edge('lib/codec/json-codec.ts', 'lib/core/events.ts', true),
      edge('lib/codec/json-codec.ts', 'lib/core/ports/client-sink.ts', true),
      edge('lib/codec/mychat-codec.ts', 'lib/protocol/server-lines.ts'),
      edge('lib/codec/json-codec.ts', 'lib/core/chat-core.ts'),
      edge('lib/codec/json-codec.ts', 'lib/core/session.ts', true),
      edge('lib/codec/json-codec.ts', 'lib/log.ts'),
    ]),
    ['lib/codec/json-codec.ts -> lib/core/chat-core.ts', 'lib/codec/json-codec.ts -> lib/core/session.ts', 'lib/codec/json-codec.ts -> lib/log.ts'],
  );
});

test('the cycle check finds a cycle through type-only imports and reports its files in order', (t) => {
  const cycles = findCycles([edge('lib/core/a.ts', 'lib/core/b.ts'), edge('lib/core/b.ts', 'lib/core/c.ts', true), edge('lib/core/c.ts', 'lib/core/a.ts')]);
  t.deepEqual(cycles, [['lib/core/a.ts', 'lib/core/b.ts', 'lib/core/c.ts', 'lib/core/a.ts']]);
  t.deepEqual(findCycles([edge('lib/core/a.ts', 'lib/core/b.ts'), edge('lib/core/a.ts', 'lib/core/c.ts'), edge('lib/core/b.ts', 'lib/core/c.ts')]), []);
});

test('on real files, a client module that imports the core (even only its types) fails the check', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mychat-layers-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const write = (file: string, text: string): void => {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  };
  write('lib/protocol/limits.ts', 'export const LIMIT = 1;\n');
  write('lib/core/commands/index.ts', "import { LIMIT } from '../../protocol/limits';\nexport const commands = [LIMIT];\n");
  write('lib/client/ok.ts', "import { LIMIT } from '../protocol/limits';\nexport const x = LIMIT;\n");
  write('lib/client/bad.ts', "import type { commands } from '../core/commands';\nexport type X = typeof commands;\n");
  write('lib/client/also-bad.ts', "export { commands } from '../core/commands';\n");
  const found = importEdges(dir, sourceFiles(dir, ['lib']));
  t.deepEqual(found.find((e) => e.from === 'lib/client/bad.ts'), edge('lib/client/bad.ts', 'lib/core/commands/index.ts', true));
  t.deepEqual(layerViolations(found), ['lib/client/also-bad.ts -> lib/core/commands/index.ts', 'lib/client/bad.ts -> lib/core/commands/index.ts']);
});
