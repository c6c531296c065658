/**
 * The floor for running plugins from Node: a bare Node program that runs the same commands
 * every `--every` seconds, one at a time, spawned as the agent spawns a check (argument vector,
 * own process group, stdout and stderr piped and read) and nothing else: no parsing, no link.
 * footprint-everything runs it with the agent unit's flags beside the agent, so what Node itself
 * charges per fork+exec and pipe (the runtime's cost, not laas's) is measured in the same run.
 *
 *   node [flags] dist/bench/node-runner.js COMMANDS.json EVERY_SECONDS
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

const [file, every] = process.argv.slice(2);
const commands = JSON.parse(readFileSync(file, 'utf8')) as string[][];
const env = { PATH: '/usr/bin:/bin', LC_NUMERIC: 'C' };

function runOne(argv: string[]): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
    let out = 0;
    child.stdout.on('data', (d: Buffer) => (out += d.length));
    child.stderr.on('data', (d: Buffer) => (out += d.length));
    child.on('error', () => resolve());
    child.on('close', () => resolve());
  });
}

async function round(): Promise<void> {
  const next = Date.now() + Number(every) * 1000;
  for (const c of commands) await runOne(c);
  setTimeout(() => void round(), Math.max(0, next - Date.now()));
}
void round();
