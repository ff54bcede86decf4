// lib/protocol/text-hygiene.ts loads Unicode's confusables with require() on first use, for name checks the
// browser never makes; esbuild drops that code from the bundle. This declares require for the type check only.
declare function require(id: string): unknown;
