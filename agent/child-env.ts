/**
 * What the commands the agent starts (restart commands, scripts, the systemd probe's systemctl)
 * see of its environment: an allow-list, not the agent's whole environment, which holds its
 * token ({"env": …} secrets), LAAS_* settings and whatever the service manager put there.
 */

/** Passed when the agent has them: what commands need to find programs and read text and time. */
export const BASE_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR', 'TERM'] as const;

/** Where commands find programs when the agent itself has no PATH (systemd's default). */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The environment for a command: BASE_ENV and LC_* from `parent`, plus the names the config
 * passes (`passEnv`); never a LAAS_* variable nor one a config secret is read from.
 */
export function childEnv(parent: NodeJS.ProcessEnv, opts: { passEnv?: readonly string[]; secretEnv?: readonly string[] } = {}): Record<string, string> {
  const never = new Set(opts.secretEnv ?? []);
  const wanted = new Set<string>([...BASE_ENV, ...(opts.passEnv ?? [])]);
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value === undefined || /^LAAS_/i.test(name) || never.has(name)) continue;
    if (wanted.has(name) || name.startsWith('LC_')) env[name] = value;
  }
  env.PATH ??= DEFAULT_PATH;
  return env;
}
