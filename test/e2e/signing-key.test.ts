import { spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AGENT_TOKEN, Fleet } from '../helpers/fleet.js';
import { laas, laasRun, stopAll, tcpAnswers, waitFor } from '../helpers/procs.js';

interface Heal {
  id: string;
  state: string;
  reason: string;
  host: string;
}
interface Host {
  id: string;
  connected: boolean;
  lastSeen: string;
}

/**
 * An agent on the shared token runs only what the controller signed: it pins the controller's
 * public key, which `laas signing-key` fetches; with no key pinned it reports but runs nothing.
 */
describe("agents on a shared token pin the controller's signing key", () => {
  const fleet = new Fleet();
  afterAll(async () => {
    await stopAll();
    await fleet.cleanup();
  });

  const down = (service: string) => ({ all: [{ fact: 'service', path: `$.${service}.up`, operator: 'equal', value: false }] });

  it('laas signing-key prints the public half of the key the controller signs with', async () => {
    await fleet.startController();
    const r = await laasRun(['signing-key', '--url', fleet.url]);
    expect(r.code).toBe(0);
    const own = createPublicKey(readFileSync(join(fleet.dataDir, 'signing-key.pem'), 'utf8')).export({ type: 'spki', format: 'pem' });
    expect(r.stdout).toBe(own);
    const file = join(fleet.dir, 'controller-signing-key.pem');
    const w = await laasRun(['signing-key', '--url', fleet.url, '--out', file]);
    expect(w.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(own);
    expect(w.stderr).toContain(`"signingKey": {"file": "${file}"}`);
  });

  it('an agent without a pinned key keeps reporting but refuses the heal, and the work order says how to fix it', async () => {
    fleet.rule('keys', 'bare-down', { hosts: { role: 'bare' }, when: down('bare'), heal: { action: 'service.restart', params: { service: 'bare' } } });
    await fetch(`${fleet.url}/api/v1/rules/reload`, { method: 'POST' });
    const svc = await fleet.service('bare');
    const config = fleet.writeRaw(
      'agent-bare.json',
      JSON.stringify({
        controller: fleet.url.replace(/^http/, 'ws'),
        token: AGENT_TOKEN,
        id: 'bare-1',
        labels: { role: 'bare' },
        interval: '1s',
        services: [{ name: 'bare', probe: { tcp: `127.0.0.1:${svc.port}` }, probeInterval: '250ms', restart: svc.restart }],
      }),
    );
    // laas-agent --check (what install.sh runs) says what such a config will not do.
    const check = spawnSync(process.execPath, ['dist/cli/agent-main.js', '--config', config, '--check'], { encoding: 'utf8' });
    expect(check.status).toBe(0);
    expect(check.stdout).toContain('note: it pins no controller signing key, so it will monitor but refuse every instruction');
    const agent = laas(['agent', '--config', config]);
    await fleet.hostConnected('bare-1');
    expect(agent.stderr()).toContain('ACTION_NO_SIGNING_KEY');
    process.kill(svc.pid(), 'SIGKILL');
    const heal = await waitFor(
      'the refused work order',
      async () => (await fleet.api<Heal[]>('/api/v1/heals?host=bare-1')).find((h) => h.state === 'failed'),
      20_000,
    );
    expect(heal.reason).toContain('ACTION_NO_SIGNING_KEY');
    expect(heal.reason).toContain('set "signingKey" in agent.json');
    expect(await tcpAnswers(svc.port)).toBe(false);
    const audit = await fleet.api<{ who: string; action: string; result: string; detail?: string }[]>('/api/v1/audit');
    expect(audit).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ who: 'bare-1', action: 'instruction refused', result: 'denied', detail: expect.stringContaining('ACTION_NO_SIGNING_KEY') }),
      ]),
    );
    // Still monitoring: its samples keep arriving.
    const seen = (await fleet.api<Host>('/api/v1/hosts/bare-1')).lastSeen;
    await waitFor('a later sample', async () => (await fleet.api<Host>('/api/v1/hosts/bare-1')).lastSeen > seen, 10_000);
    await agent.stop();
  });

  it('an agent pinning the key from the file laas signing-key wrote heals', async () => {
    fleet.rule('keys', 'pinned-down', { hosts: { role: 'pinned' }, when: down('pinned'), heal: { action: 'service.restart', params: { service: 'pinned' } } });
    await fetch(`${fleet.url}/api/v1/rules/reload`, { method: 'POST' });
    const svc = await fleet.service('pinned');
    fleet.startAgent('pinned-1', {
      labels: { role: 'pinned' },
      signingKey: { file: join(fleet.dir, 'controller-signing-key.pem') },
      services: [{ name: 'pinned', probe: { tcp: `127.0.0.1:${svc.port}` }, probeInterval: '250ms', restart: svc.restart }],
    });
    await fleet.hostConnected('pinned-1');
    process.kill(svc.pid(), 'SIGKILL');
    const heal = await waitFor('the heal', async () => (await fleet.api<Heal[]>('/api/v1/heals?host=pinned-1')).find((h) => h.state === 'succeeded'), 20_000);
    expect(heal.host).toBe('pinned-1');
    expect(await tcpAnswers(svc.port)).toBe(true);
  });
});
