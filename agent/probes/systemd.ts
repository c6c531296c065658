import { execFile } from 'node:child_process';
import { childEnv } from '../child-env.js';
import type { ProbeResult } from './types.js';

/** Up when `systemctl is-active` says the unit is active (exit 0); its state word is the detail otherwise. */
export function probe(target: string, timeoutMs: number, env: Readonly<Record<string, string>> = childEnv(process.env)): Promise<ProbeResult> {
  return new Promise((resolve) => {
    execFile('systemctl', ['is-active', target], { timeout: timeoutMs, maxBuffer: 64 * 1024, env }, (err, stdout, stderr) => {
      if (!err) return resolve({ up: true });
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      if (e.code === 'ENOENT') return resolve({ up: false, detail: 'systemctl not found' });
      if (e.killed) return resolve({ up: false, detail: `systemctl gave no answer within ${timeoutMs}ms` });
      const state = String(stdout).trim() || String(stderr).trim().split('\n')[0] || e.message;
      resolve({ up: false, detail: state.slice(0, 200) });
    });
  });
}
