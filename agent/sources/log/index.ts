import { RE2JS } from 're2js';
import { storable, type Sample } from '../../../protocol/index.js';
import type { AgentConfig } from '../../config.js';
import type { FactSource, SourceContext } from '../types.js';
import type { LogConfig } from './config.js';
import { FileFollower, type FileFollowerOptions } from './file-follower.js';
import { JournalFollower, type JournalFollowerOptions } from './journal-follower.js';
import { WindowCounter } from './window.js';

type LogFacts = NonNullable<Sample['log']>;

/** What the fact keeps of the last matching line (the schema's bound). */
const LAST_LINE = 1000;

export interface LogSourceOptions {
  /** Wall-clock ms; the window and lastAt use it (tests step it by hand). */
  now?: () => number;
  file?: Partial<FileFollowerOptions>;
  journal?: Partial<JournalFollowerOptions>;
}

interface Watch {
  readonly name: string;
  readonly test: (line: string) => boolean;
  readonly window: WindowCounter;
  readonly follower: FileFollower | JournalFollower;
  total: number;
  lastLine?: string;
  lastAt?: number;
  error?: string;
}

/**
 * The `log` fact: lines matching each pattern of agent.json's `logs`, counted over a sliding
 * window. Patterns are RE2 (re2js), matched in time linear in the line, and lines are cut at
 * 8 KiB before matching: no pattern and no line can stall the agent, whatever the file holds.
 */
export class LogSource implements FactSource<'log'> {
  readonly fact = 'log' as const;
  private readonly watches: Watch[];
  private readonly now: () => number;

  constructor(logs: readonly LogConfig[], ctx: SourceContext, opts: LogSourceOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.watches = logs.map((c) => {
      const re = RE2JS.compile(c.match);
      const onLine = (line: string) => this.line(w, line);
      const onError = (reason: string | undefined) => {
        if (reason !== undefined) ctx.log.warn({ log: c.name, reason }, `log ${c.name}: ${reason}`);
        else if (w.error !== undefined) ctx.log.info({ log: c.name }, `log ${c.name}: reading again`);
        w.error = reason;
      };
      const w: Watch = {
        name: c.name,
        test: (line) => re.test(line),
        window: new WindowCounter(c.window),
        follower:
          c.file !== undefined
            ? new FileFollower({ ...opts.file, path: c.file, onLine, onError })
            : new JournalFollower({ env: ctx.env, ...opts.journal, unit: c.unit!, onLine, onError }),
        total: 0,
      };
      return w;
    });
  }

  start(): void {
    for (const w of this.watches) w.follower.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.watches.map((w) => w.follower.stop()));
  }

  /** The followers, for tests that step a file follower by hand. */
  follower(name: string): FileFollower | JournalFollower | undefined {
    return this.watches.find((w) => w.name === name)?.follower;
  }

  snapshot(): LogFacts {
    const now = this.now();
    const out: LogFacts = {};
    for (const w of this.watches) {
      out[w.name] = {
        count: w.window.count(now),
        total: w.total,
        ...(w.lastLine !== undefined ? { lastLine: w.lastLine } : {}),
        ...(w.lastAt !== undefined ? { lastAt: w.lastAt } : {}),
        ...(w.error !== undefined ? { error: w.error } : {}),
      };
    }
    return out;
  }

  private line(w: Watch, line: string): void {
    if (!w.test(line)) return;
    const now = this.now();
    w.window.add(now);
    w.total++;
    // NUL becomes U+FFFD here, as the controller would store it.
    w.lastLine = storable(cap(line.trimEnd(), LAST_LINE));
    w.lastAt = Math.max(0, Math.round(now));
  }
}

/** At most `max` UTF-16 units, not cutting a surrogate pair in two. */
function cap(s: string, max: number): string {
  if (s.length <= max) return s;
  const end = /[\uD800-\uDBFF]/.test(s[max - 1]) ? max - 1 : max;
  return s.slice(0, end);
}

export function logSource(config: AgentConfig, ctx: SourceContext): FactSource | undefined {
  return config.sources.logs.length === 0 ? undefined : new LogSource(config.sources.logs, ctx);
}
