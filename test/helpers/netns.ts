import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CLI, track, type Proc } from './procs.js';

/** Every namespace these tests make starts with this; a crashed run's leftovers are found by it. */
export const NETNS_PREFIX = 'laas-t-';
const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p));

/**
 * Why network-namespace tests cannot run here, or undefined when they can. In CI (CI set) a
 * missing piece is a failure, not a skip: the caller throws the reason.
 */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root (CI runs as root)';
  if (!IP) return 'the ip command is missing (Debian package iproute2)';
  return undefined;
}

function ip(...args: string[]): string {
  return execFileSync(IP!, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Deletes namespaces a crashed run left behind (deleting a namespace deletes its veth pair
 * too). Names end in the pid of the test process that made them: a live one (another test file
 * running in parallel) keeps its namespace.
 */
export function cleanStaleNamespaces(): void {
  for (const line of ip('netns', 'list').split('\n')) {
    const name = line.split(' ')[0];
    if (!name?.startsWith(NETNS_PREFIX)) continue;
    const pid = Number(/-(\d+)$/.exec(name)?.[1]);
    if (pid && pidAlive(pid)) continue;
    try {
      ip('netns', 'delete', name);
    } catch {
      /* already gone */
    }
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A test host in its own network namespace, joined to the root namespace by a veth pair on a
 * private /30: the root side is `hostAddr` (.1), the namespace side `nsAddr` (.2). `cut()` takes
 * the root side down — packets to and from the namespace vanish, a real partition — and
 * `restore()` brings it back.
 */
export class NetnsHost {
  readonly ns: string;
  readonly rootIf: string;
  readonly nsIf: string;
  hostAddr = '';
  nsAddr = '';
  private readonly procs: Proc[] = [];

  constructor(tag: string) {
    this.ns = `${NETNS_PREFIX}${tag}-${process.pid}`;
    // Interface names are at most 15 characters.
    const id = `${tag.slice(0, 3)}${process.pid % 100_000}`;
    this.rootIf = `lr${id}`;
    this.nsIf = `ln${id}`;
  }

  /** Makes the namespace and the pair, on the first 10.213.X.0/30 no interface uses yet. */
  create(): void {
    const used = ip('-o', '-4', 'addr', 'show');
    const start = process.pid % 250;
    const subnet = Array.from({ length: 250 }, (_, i) => ((start + i) % 250) + 1).find((x) => !used.includes(`10.213.${x}.`));
    if (!subnet) throw new Error('no free 10.213.X.0/30 subnet for a test namespace');
    this.hostAddr = `10.213.${subnet}.1`;
    this.nsAddr = `10.213.${subnet}.2`;
    ip('netns', 'add', this.ns);
    ip('link', 'add', this.rootIf, 'type', 'veth', 'peer', 'name', this.nsIf);
    ip('link', 'set', this.nsIf, 'netns', this.ns);
    ip('addr', 'add', `${this.hostAddr}/30`, 'dev', this.rootIf);
    ip('link', 'set', this.rootIf, 'up');
    ip('netns', 'exec', this.ns, IP!, 'addr', 'add', `${this.nsAddr}/30`, 'dev', this.nsIf);
    ip('netns', 'exec', this.ns, IP!, 'link', 'set', this.nsIf, 'up');
    ip('netns', 'exec', this.ns, IP!, 'link', 'set', 'lo', 'up');
  }

  cut(): void {
    ip('link', 'set', this.rootIf, 'down');
  }

  restore(): void {
    ip('link', 'set', this.rootIf, 'up');
  }

  /** Runs `laas <args>` inside the namespace as a real child process (`ip netns exec` execs it: same pid). */
  laas(args: string[]): Proc {
    return this.node([CLI, ...args]);
  }

  /** Sets a network sysctl inside the namespace only, e.g. ("net/ipv4/tcp_rmem", "4096 4096 4096"). */
  sysctl(path: string, value: string): void {
    ip('netns', 'exec', this.ns, 'sysctl', '-q', '-w', `${path.replaceAll('/', '.')}=${value}`);
  }

  /** Runs node with `args` inside the namespace. */
  node(args: string[]): Proc {
    const proc = track(
      spawn(IP!, ['netns', 'exec', this.ns, process.execPath, ...args], {
        env: { ...process.env, LAAS_LOG_LEVEL: 'debug' },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    this.procs.push(proc);
    return proc;
  }

  /** Stops what it started and deletes the namespace (and with it the veth pair). Safe to call twice. */
  async destroy(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop()));
    try {
      ip('link', 'delete', this.rootIf);
    } catch {
      /* gone with the namespace, or never made */
    }
    try {
      ip('netns', 'delete', this.ns);
    } catch {
      /* never made */
    }
  }
}
