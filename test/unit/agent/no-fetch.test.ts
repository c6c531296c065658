import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The installed agent runs with --jitless (packaging/systemd/laas-agent.service), which turns off
 * WebAssembly; Node's fetch needs it (undici's parser), so agent code must use node:http(s).
 */
describe("agent code and the installed agent's --jitless", () => {
  it('no agent module calls fetch', () => {
    const files = (readdirSync('agent', { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(10);
    const offenders = files.filter((f) => /\bfetch\s*\(/.test(readFileSync(join('agent', f), 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '')));
    expect(offenders).toEqual([]);
  });
});
