import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { errorMessage, type Logger } from '../../protocol/index.js';
import { childEnv } from '../child-env.js';
import type { Held } from './types.js';

/**
 * The helper that learns of a process's exit the moment it happens: Linux's pidfd (a file
 * descriptor for a process that becomes readable when it exits, zombie or reaped). Node has no
 * binding for pidfd_open and the agent builds no native code, so one small Perl program does it
 * for every watched pid at once: perl-base is Essential on Debian and Ubuntu (always installed),
 * and its `syscall` and four-argument `select` need no module. Measured kill → notice: 3.6 ms
 * median (bench/RESULTS.md fault-to-fix), against `tail --pid -s 0.01` (a 10 ms poll per pid) and
 * util-linux waitpid(1) (pidfd too, but not in Debian 12).
 *
 * Lines in: `+<id> <pid> <start time>` watches, `-<id>` forgets. Lines out: `ready` once, then
 * `exit <id>` (the process ended) or `gone <id> <why>` (it was gone, or its pid already names
 * another process, before the watch began). The start time (from /proc/<pid>/stat, read after
 * the pidfd is open) ties the pidfd to the process the probe saw, not to a later one that reused
 * its pid. End of input (the agent gone) ends it. `select` is bounded by FD_SETSIZE: MAX_WATCHES.
 */
const SCRIPT = String.raw`
use strict; use warnings; $| = 1;
my $own = syscall(434, $$ + 0, 0);
if ($own < 0) { print "unsupported pidfd_open: $!\n"; exit 0; }
if (open(my $o, '<&=', $own)) { close($o); }
my (%fh, %fd); my $buf = '';
sub start_of { my $p = shift; open(my $s, '<', "/proc/$p/stat") or return undef; my $t = <$s>; close($s);
  return undef unless defined $t && $t =~ /\)\s(.*)$/s; my @f = split / /, $1; return $f[19]; }
sub command { my $l = shift;
  if ($l =~ /^\+(\d+) (\d+) ?(\d*)$/) { my ($id, $pid, $want) = ($1, $2, $3);
    my $fd = syscall(434, $pid + 0, 0);
    if ($fd < 0) { print "gone $id pidfd_open: $!\n"; return; }
    open(my $h, '<&=', $fd) or do { print "gone $id fdopen: $!\n"; return; };
    my $now = start_of($pid);
    if ($want ne '' && (!defined $now || $now ne $want)) { close($h); print "gone $id pid $pid now names another process\n"; return; }
    $fh{$id} = $h; $fd{$id} = $fd; return; }
  if ($l =~ /^-(\d+)$/) { my $id = $1; if ($fh{$id}) { close($fh{$id}); delete $fh{$id}; delete $fd{$id}; } } }
print "ready\n";
while (1) {
  my $in = ''; vec($in, 0, 1) = 1; vec($in, $_, 1) = 1 for values %fd;
  my $n = select(my $out = $in, undef, undef, undef);
  if ($n < 0) { next if $!{EINTR}; die "select: $!\n"; }
  for my $id (keys %fd) { next unless vec($out, $fd{$id}, 1); close($fh{$id}); delete $fh{$id}; delete $fd{$id}; print "exit $id\n"; }
  next unless vec($out, 0, 1);
  my $r = sysread(STDIN, $buf, 4096, length $buf);
  exit 0 unless $r;
  command($1) while $buf =~ s/^([^\n]*)\n//;
}
`;

/** select() cannot wait on a descriptor above 1023: past this many watches a probe simply polls. */
export const MAX_WATCHES = 512;
/** After the helper failed (or died), probes poll this long before it is started again. */
const RETRY_MS = 30_000;

export type OnExit = (why: string, heldMs: number) => void;

/**
 * One helper child per agent (started on the first watch), watching every pid a `process` or
 * `pidfile` probe with `"watch": true` found. A watch is an accelerator only: when the helper is
 * unavailable (no perl, a kernel without pidfd, the helper died) watch() returns undefined and
 * the periodic probe, which runs regardless, still finds the death.
 */
export class PidWatcher {
  private child?: ChildProcessWithoutNullStreams;
  private readonly watches = new Map<number, { onExit: OnExit; since: number }>();
  private nextId = 1;
  private retryAt = 0;
  private closed = false;

  constructor(
    private readonly log: Logger,
    private readonly env: Readonly<Record<string, string>> | undefined,
    private readonly command: readonly string[] = ['perl', '-e', SCRIPT],
  ) {}

  /** The helper's pid while it runs (for tests and logs). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Watches `pid` (whose start time, when known, is `start`): onExit is called once, when it ends. */
  watch(pid: number, start: string | undefined, onExit: OnExit): Held | undefined {
    if (process.platform !== 'linux' || this.closed || this.watches.size >= MAX_WATCHES) return undefined;
    const child = this.helper();
    if (!child) return undefined;
    const id = this.nextId++;
    this.watches.set(id, { onExit, since: performance.now() });
    child.stdin.write(`+${id} ${pid} ${/^\d+$/.test(start ?? '') ? start : ''}\n`);
    return {
      release: () => {
        if (!this.watches.delete(id)) return;
        if (this.child === child && child.stdin.writable) child.stdin.write(`-${id}\n`);
      },
    };
  }

  /** Ends the helper and drops every watch (nothing is reported for them). */
  close(): void {
    this.closed = true;
    this.watches.clear();
    const child = this.child;
    this.child = undefined;
    child?.kill('SIGKILL');
  }

  private helper(): ChildProcessWithoutNullStreams | undefined {
    if (this.child) return this.child;
    if (Date.now() < this.retryAt) return undefined;
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(this.command[0], this.command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: { ...(this.env ?? childEnv(process.env)) } });
    } catch (e) {
      this.fail(`cannot start ${this.command[0]}: ${errorMessage(e)}`);
      return undefined;
    }
    this.child = child;
    let stderr = '';
    let out = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-500);
    });
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
        this.line(child, out.slice(0, nl));
        out = out.slice(nl + 1);
      }
      if (out.length > 4096) out = '';
    });
    child.stdin.on('error', () => undefined); // a dead helper: its exit event says so
    child.once('error', (e: NodeJS.ErrnoException) => this.gone(child, `cannot start ${this.command[0]}: ${e.code ?? e.message}`));
    child.once('exit', (code, signal) => this.gone(child, `helper exited (${signal ?? `code ${code}`})${stderr ? `: ${stderr.trim()}` : ''}`));
    // The helper must never keep the agent alive; it ends by itself when its input closes.
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?: () => void }).unref?.();
    return child;
  }

  private line(child: ChildProcessWithoutNullStreams, line: string): void {
    if (this.child !== child) return;
    if (line === 'ready') return;
    if (line.startsWith('unsupported')) {
      // The kernel will not grow pidfd while we run: poll for good.
      this.retryAt = Infinity;
      this.gone(child, line);
      child.kill('SIGKILL');
      return;
    }
    const m = /^(exit|gone) (\d+)(?: (.*))?$/.exec(line);
    if (!m) return;
    const id = Number(m[2]);
    const w = this.watches.get(id);
    if (!w) return;
    this.watches.delete(id);
    w.onExit(m[1] === 'exit' ? 'process exited' : `not watched: ${m[3] ?? 'gone'}`, performance.now() - w.since);
  }

  /** The helper is gone: its watches are dropped quietly (the periodic probes carry on) and it is retried later. */
  private gone(child: ChildProcessWithoutNullStreams, why: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.watches.clear();
    if (this.closed) return;
    this.fail(why);
  }

  private fail(why: string): void {
    if (this.retryAt !== Infinity) this.retryAt = Date.now() + RETRY_MS;
    this.log.warn({ why, retryInMs: this.retryAt === Infinity ? undefined : RETRY_MS }, 'process exit watcher unavailable: process and pidfile probes poll');
  }
}
