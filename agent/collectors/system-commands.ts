import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** How often the facts only a command can give are refreshed: a spawn costs ~5–20 ms of CPU, once a minute is noise. */
export const COMMAND_EVERY_MS = 60_000;
/** How long a collection waits for a refresh before it reports the previous value (the refresh goes on). */
const WAIT_MS = 1000;
const TIMEOUT_MS = 10_000;

/** execFile with a timeout and capped output: an argument vector, no shell. */
export async function runCommand(file: string, args: readonly string[]): Promise<string> {
  const { stdout } = await execFileAsync(file, args, { timeout: TIMEOUT_MS, maxBuffer: 256 * 1024, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  return stdout;
}

/**
 * A value that costs a child process, fetched at most once per period. A slow fetch never holds a
 * collection longer than WAIT_MS: the previous value is reported until it lands. A failed fetch
 * clears the value, so a fact that can no longer be read is left out rather than repeated.
 */
export class Periodic<T> {
  private value: T | undefined;
  private fetchedAt: number | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly read: () => Promise<T | undefined>,
    private readonly now: () => number,
    private readonly everyMs = COMMAND_EVERY_MS,
  ) {}

  async get(): Promise<T | undefined> {
    const at = this.now();
    if (!this.running && (this.fetchedAt === undefined || at - this.fetchedAt >= this.everyMs)) {
      this.fetchedAt = at;
      this.running = this.read()
        .then(
          (v) => void (this.value = v),
          () => void (this.value = undefined),
        )
        .finally(() => (this.running = undefined));
    }
    if (this.running) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.running, new Promise((r) => (timer = setTimeout(r, WAIT_MS)))]);
      clearTimeout(timer);
    }
    return this.value;
  }
}

/** `systemctl list-units --state=failed --plain --no-legend`: one unit a line, its name first. */
export function parseFailedUnits(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const unit = line.trim().split(/\s+/)[0];
    // Older systemctl prints a "●" before failed units even with --plain.
    const name = unit === '●' ? line.trim().split(/\s+/)[1] : unit;
    if (name && /^[\w@.:\\-]+$/.test(name) && name.length <= 300) out.push(name);
    if (out.length >= 100) break;
  }
  return out;
}

/** `timedatectl show --property=NTPSynchronized --value`: the kernel's "clock synchronised" flag, as timedated reads it. */
export function parseSynchronized(text: string): boolean | undefined {
  const s = text.trim();
  return s === 'yes' ? true : s === 'no' ? false : undefined;
}

/** `chronyc -c tracking` (CSV): the fifth field is the system clock's offset from NTP time, in seconds. */
export function parseChronyOffsetMs(text: string): number | undefined {
  const f = text.trim().split('\n')[0]?.split(',');
  const seconds = f && f.length >= 5 ? Number(f[4]) : NaN;
  return Number.isFinite(seconds) && f[4].trim() !== '' ? Math.round(Math.abs(seconds) * 1e6) / 1e3 : undefined;
}

/** systemd is PID 1 (sd_booted's test): without it systemctl and timedatectl have nothing to ask. */
export function systemdBooted(run: string): Promise<boolean> {
  return access(`${run}/systemd/system`).then(
    () => true,
    () => false,
  );
}
