import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const HOST_FIXTURES = join(import.meta.dirname, '../fixtures/host-facts');

/** A fake host root (proc/, sys/, run/, etc/passwd) the collectors read instead of the real one. */
export function fakeHost() {
  const root = mkdtempSync(join(tmpdir(), 'laas-host-'));
  const path = (file: string) => join(root, file);
  const write = (file: string, text: string) => {
    mkdirSync(dirname(path(file)), { recursive: true });
    writeFileSync(path(file), text);
  };
  const fixture = (file: string, name: string) => {
    mkdirSync(dirname(path(file)), { recursive: true });
    copyFileSync(join(HOST_FIXTURES, name), path(file));
  };
  for (const d of ['proc', 'sys', 'run']) mkdirSync(path(d));
  return {
    root,
    proc: path('proc'),
    sys: path('sys'),
    run: path('run'),
    passwd: path('etc/passwd'),
    path,
    write,
    fixture,
    /** /proc/<pid>/stat and status as the kernel writes them (utime, stime and start in ticks). */
    process(p: { pid: number; comm: string; state?: string; utime: number; stime?: number; start?: number; rssPages: number; uid?: number; status?: boolean }) {
      const rest = `${p.state ?? 'S'} 1 1 1 0 -1 4194304 0 0 0 0 ${p.utime} ${p.stime ?? 0} 0 0 20 0 1 0 ${p.start ?? 100} 1000 ${p.rssPages} 18446744073709551615 0 0`;
      write(`proc/${p.pid}/stat`, `${p.pid} (${p.comm}) ${rest}\n`);
      if (p.status !== false)
        write(`proc/${p.pid}/status`, `Name:\t${p.comm}\nState:\t${p.state ?? 'S'}\nUid:\t${p.uid ?? 0}\t${p.uid ?? 0}\t0\t0\nVmRSS:\t${p.rssPages * 4} kB\n`);
    },
    rm: (file: string) => rmSync(path(file), { force: true }),
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}
