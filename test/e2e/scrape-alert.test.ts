import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../helpers/fleet.js';
import { freePort, stopAll, waitFor, type Proc } from '../helpers/procs.js';

interface Alert {
  id: string;
  rule: string;
  host: string;
  state: string;
}

/** A real controller and a real agent scraping an exporter: a rule on the scraped series fires and resolves. */
describe('an alert on a scraped metric', () => {
  const fleet = new Fleet();
  let exporter: Server;
  let queue = 3;
  let agent: Proc;

  beforeAll(async () => {
    exporter = createServer((_req, res) => res.end(`# TYPE app_queue_depth gauge\napp_queue_depth{queue="mail"} ${queue}\n`));
    const port = await freePort();
    await new Promise<void>((r) => exporter.listen(port, '127.0.0.1', r));
    fleet.rule('app', 'mail-queue-deep', {
      when: { all: [{ fact: 'metric', path: `$.app['app_queue_depth{queue="mail"}']`, operator: 'greaterThan', value: 100 }] },
      severity: 'warning',
    });
    await fleet.startController();
    agent = fleet.startAgent('web-1', { interval: '1s', scrape: [{ name: 'app', url: `http://127.0.0.1:${port}/metrics`, interval: '1s' }] });
    await fleet.hostConnected('web-1');
  });

  afterAll(async () => {
    await stopAll();
    exporter.closeAllConnections();
    await new Promise((r) => exporter.close(r));
    await fleet.cleanup();
  });

  it('fires when the exporter reports a deep queue and resolves when it drains', async () => {
    queue = 250;
    const firing = await waitFor('the alert to fire', async () =>
      (await fleet.api<Alert[]>('/api/v1/alerts?state=firing')).find((a) => a.rule === 'app/mail-queue-deep' && a.host === 'web-1'),
    );
    queue = 5;
    await waitFor('the alert to resolve', async () => (await fleet.api<Alert[]>('/api/v1/alerts?state=resolved')).find((a) => a.id === firing.id));
    expect(agent.child.exitCode).toBeNull();
  });
});
