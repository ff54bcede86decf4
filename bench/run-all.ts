/*
 * `npm run bench`: runs every benchmark in turn, each in its own process, and hands each the options
 * meant for it: `--nodes N` goes to the cluster bench, every other option to the scale bench (issue 10's
 * table: `--quick`, `--vs-irc HOST:PORT`, `--vs-ngircd`, ...). Ends with a non-zero status if any failed
 * to run; the figures and their PASS/FAIL are in each bench's own output.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

/** The benchmarks in the order they run, and which of the command line's options each takes. */
const BENCHES: ReadonlyArray<{ file: string; takes: 'none' | 'nodes' | 'rest' }> = [
  { file: 'chat-bench.ts', takes: 'none' },
  { file: 'memory-bench.ts', takes: 'none' },
  { file: 'history-bench.ts', takes: 'none' },
  { file: 'hostile-bench.ts', takes: 'none' },
  { file: 'scale-bench.ts', takes: 'rest' },
  { file: 'cluster-bench.ts', takes: 'nodes' },
];

/** Splits the command line into the cluster bench's `--nodes N` and the rest. */
function splitArgs(argv: readonly string[]): { nodes: string[]; rest: string[] } {
  const nodes: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--nodes') nodes.push('--nodes', argv[++i] ?? '');
    else rest.push(argv[i]!);
  }
  return { nodes, rest };
}

function main(): void {
  const { nodes, rest } = splitArgs(process.argv.slice(2));
  const only = process.env.MYCHAT_BENCH_ONLY?.split(',');
  let failed = 0;
  for (const bench of BENCHES) {
    if (only !== undefined && !only.some((name) => bench.file.startsWith(name))) continue;
    const args = bench.takes === 'nodes' ? nodes : bench.takes === 'rest' ? rest : [];
    const run = spawnSync(process.execPath, ['-r', 'ts-node/register', path.join(__dirname, bench.file), ...args], { stdio: 'inherit' });
    if (run.status !== 0) {
      failed++;
      console.log(`bench ${bench.file} ended with status ${run.status ?? run.signal}`);
    }
  }
  process.exitCode = failed > 0 ? 1 : 0;
}

main();
