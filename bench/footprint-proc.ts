/**
 * What the footprint benches read about a process and about the installed agent: its CPU ticks
 * and memory from /proc, and the Node flags and environment of packaging/systemd/laas-agent.service.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The environment the installed agent runs with: the unit's Environment= assignments. */
export function unitEnv(unit = readFileSync('packaging/systemd/laas-agent.service', 'utf8')): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of unit.split('\n')) {
    if (!line.startsWith('Environment=')) continue;
    for (const kv of line.slice('Environment='.length).split(/\s+/).filter(Boolean)) {
      const i = kv.indexOf('=');
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
  }
  return env;
}

/** The Node flags the installed agent runs with: what ExecStart puts between @NODE@ and the bundle. */
export function unitFlags(unit = readFileSync('packaging/systemd/laas-agent.service', 'utf8')): string[] {
  const line = unit.split('\n').find((l) => l.startsWith('ExecStart='));
  const m = line && /^ExecStart=@NODE@\s+(.*?)\s*\/opt\/laas\/laas-agent\.mjs\b/.exec(line);
  if (!m) throw new Error('packaging/systemd/laas-agent.service: no "ExecStart=@NODE@ [flags] /opt/laas/laas-agent.mjs" line');
  return m[1].split(/\s+/).filter(Boolean);
}

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** VmRSS, VmHWM, RssAnon, RssFile, RssShmem from /proc/<pid>/status, in MiB. */
export function status(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(VmRSS|VmHWM|RssAnon|RssFile|RssShmem):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]] = Number(m[2]) / 1024;
  }
  return out;
}

/** Pss, Pss_Anon, Pss_File from /proc/<pid>/smaps_rollup, in MiB: shared pages (the node binary's) split among the processes mapping them. */
export function pss(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n')) {
    const m = /^(Pss|Pss_Anon|Pss_File):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]] = Number(m[2]) / 1024;
  }
  return out;
}

/** utime+stime (fields 14 and 15) of /proc/<pid>/stat, in ticks. */
export function cpuTicks(pid: number): number {
  return ticks(pid)[0];
}

/** [own utime+stime, waited-for children's cutime+cstime] in ticks. */
export function ticks(pid: number): [number, number] {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return [Number(rest[11]) + Number(rest[12]), Number(rest[13]) + Number(rest[14])];
}
