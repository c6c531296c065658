import { request } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { decode, encode } from '../../protocol/index.js';
import { AGENT_TOKEN, Fleet } from '../helpers/fleet.js';
import { CLUSTER_SECRET, postgresMissing, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { stopAll, waitFor } from '../helpers/procs.js';
import { SimAgent } from '../helpers/sim-agent.js';

/**
 * Random ids and label sets in hellos (control characters, NUL, lone surrogates, blanks,
 * unicode, huge label counts), and random ids at the enrollment API, against a real controller
 * on each store. The rule they are judged by is written out here, not taken from the decoder:
 * a NUL that slipped through once broke every later PostgreSQL write, for every agent.
 */

const NASTY = ['\0', '\n', '\r', '\t', '\u001b', '\u007f', '\u0085', '\u009b', ' ', '\u00a0', '\u2028', '\ufeff', '\ud800', '\udfff', '"', '\\', '/', '=', '{'];
const SAFE = [...'abcdefghijklmnopqrstuvwxyzABCXYZ0123456789_.-', 'é', '東', '😀'];
/** Any character at all: printable, controls, NUL, blanks, lone surrogates, any code point. */
const anyChar = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...SAFE) },
  { weight: 2, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
);
const safeWord = (maxLength: number) => fc.array(fc.constantFrom(...SAFE), { minLength: 1, maxLength }).map((cs) => cs.join(''));
/** A string as a fuzzer tries it: clean, clean with one bad character in it, or anything. */
const word = (maxLength: number) =>
  fc.oneof(
    safeWord(maxLength),
    fc.tuple(safeWord(maxLength), fc.nat(), fc.constantFrom(...NASTY)).map(([w, at, c]) => w.slice(0, at % (w.length + 1)) + c + w.slice(at % (w.length + 1))),
    fc.array(anyChar, { maxLength }).map((cs) => cs.join('')),
  );

interface HelloCase {
  id?: string;
  hostname?: string;
  labels: Record<string, string>;
  services: string[];
}
/** One part of a hello fuzzed at a time, the rest clean, so that both verdicts come often. */
const helloCase: fc.Arbitrary<HelloCase> = fc.oneof(
  word(24).map((id) => ({ id, labels: { role: 'fz' }, services: [] })),
  word(20).map((hostname) => ({ hostname, labels: {}, services: [] })),
  fc.dictionary(word(10), word(16), { maxKeys: 6 }).map((labels) => ({ labels, services: [] })),
  fc.integer({ min: 60, max: 40_000 }).map((n) => ({ labels: Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v'])), services: [] })),
  fc.array(word(10), { maxLength: 3 }).map((services) => ({ labels: {}, services })),
);

/** The rule, written out: ids without control characters, lone surrogates or blanks around them; labels like `role`, at most 64. */
const UNSAFE = /[\p{Cc}\p{Cs}]/u;
const idOk = (s: string) => s.length >= 1 && s.length <= 200 && !UNSAFE.test(s) && !/^\s|\s$/.test(s);
const textOk = (s: string, max: number) => s.length <= max && !UNSAFE.test(s);
function clean(h: { agentId: string; hostname: string; labels: Record<string, string>; services: string[] }): boolean {
  const keys = Object.keys(h.labels).filter((k) => k !== '__proto__');
  return (
    idOk(h.agentId) &&
    textOk(h.hostname, 255) &&
    h.services.every(idOk) &&
    keys.length <= 64 &&
    keys.every((k) => k.length <= 100 && /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k)) &&
    keys.every((k) => textOk(h.labels[k], 200))
  );
}

/** One hello on its own connection: "welcome", or the close code and reason; no answer within 10 s is an answer too. */
async function sayHello(url: string, frame: string): Promise<{ welcome: boolean; code?: number; reason?: string }> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/agent`, { headers: { authorization: `Bearer ${AGENT_TOKEN}` } });
  ws.on('error', () => undefined);
  await new Promise((r) => ws.once('open', r));
  let timer: NodeJS.Timeout | undefined;
  const out = await new Promise<{ welcome: boolean; code?: number; reason?: string }>((resolve) => {
    ws.once('close', (code, reason) => resolve({ welcome: false, code, reason: reason.toString() }));
    ws.once('message', (d) => resolve({ welcome: decode(d).type === 'welcome' }));
    timer = setTimeout(() => resolve({ welcome: false, reason: 'no answer within 10 s' }), 10_000);
    ws.send(frame);
  });
  clearTimeout(timer);
  ws.terminate();
  return out;
}

/** POST from a source address of its own, so refused enrollments count against it alone. */
function post(
  url: string,
  path: string,
  body: unknown,
  localAddress: string,
): Promise<{ status: number; json: { error?: { code: string; message: string } } & Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { method: 'POST', localAddress, headers: { 'content-type': 'application/json' } }, (res) => {
      let t = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        t += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: t ? JSON.parse(t) : {} }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** A result for no known work order (its output holding a NUL): the controller acks it only once the store has flushed. */
async function resultAcked(url: string, id: string): Promise<string> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/agent`, { headers: { authorization: `Bearer ${AGENT_TOKEN}` } });
  ws.on('error', () => undefined);
  await new Promise((r) => ws.once('open', r));
  try {
    return await new Promise<string>((resolve) => {
      const t = setTimeout(() => resolve('no ack within 30 s'), 30_000);
      ws.once('close', (code, reason) => {
        clearTimeout(t);
        resolve(`closed ${code} ${reason.toString()}`);
      });
      ws.on('message', (d) => {
        const m = decode(d);
        if (m.type === 'welcome')
          ws.send(
            encode('result', {
              id: `${id}.0`,
              action: 'script.run',
              outcome: 'succeeded',
              exitCode: 0,
              signal: null,
              stdout: 'out\u0000put',
              stderr: '',
              truncated: false,
              startedAt: 1,
              durationMs: 1,
            }),
          );
        if (m.type === 'ack') {
          clearTimeout(t);
          resolve(`ack ${m.body.id}`);
        }
      });
      ws.send(
        encode('hello', {
          agentId: id,
          agentVersion: 'fz',
          hostname: id,
          labels: { role: 'fz' },
          os: { platform: 'linux', release: 'fz' },
          intervalMs: 60_000,
          services: [],
          actions: [],
          scripts: [],
        }),
      );
    });
  } finally {
    ws.terminate();
  }
}

const stores: [string, boolean][] = [
  ['lowdb', false],
  ['postgres', true],
];

describe.each(stores)('fuzzing hello ids and labels at a real controller (%s store)', (_name, pg) => {
  const skip = pg ? postgresMissing() : undefined;
  const fleet = new Fleet();
  let db: TestPostgres | undefined;
  let good: SimAgent;
  const accepted: string[] = [];
  const refused: string[] = [];

  beforeAll(async () => {
    if (skip) return;
    if (pg) db = await startPostgres();
    await fleet.startController(
      pg ? { store: { type: 'postgres', url: db!.url }, cluster: { secret: CLUSTER_SECRET }, hostDownAfter: '30s' } : { hostDownAfter: '30s' },
    );
    good = new SimAgent(fleet.url, AGENT_TOKEN, 'good-1', { role: 'web' }, 60_000);
    await good.connect();
  }, 90_000);

  afterAll(async () => {
    good?.stop();
    await stopAll();
    await fleet.cleanup();
    await db?.stop();
  }, 60_000);

  it.skipIf(skip)(
    'a bad hello is refused with its code, a good one welcomed; the controller keeps running',
    async () => {
      const cases = fc.sample(helloCase, { numRuns: 160, seed: pg ? 1616 : 616 });
      const wrong: string[] = [];
      let n = 0;
      for (const c of cases) {
        if (wrong.length >= 20) break; // enough to show; what slipped through is in the store by now
        const body = {
          agentId: c.id ?? `fz-${n++}`,
          agentVersion: 'fz',
          hostname: c.hostname ?? 'fz',
          labels: c.labels,
          os: { platform: 'linux', release: 'fz' },
          intervalMs: 60_000,
          services: c.services,
          actions: [],
          scripts: [],
        };
        if (accepted.includes(body.agentId)) continue; // a second hello would replace the first host, not test anything new
        const frame = encode('hello', body);
        const out = await sayHello(fleet.url, frame);
        const what = `hello of ${JSON.stringify(body.agentId)}, hostname ${JSON.stringify(body.hostname)}, labels ${JSON.stringify(body.labels).slice(0, 120)}, services ${JSON.stringify(body.services)}`;
        // Every case is tried (no stop at the first wrong verdict): what slipped through must also show in the store below.
        if (clean(body)) {
          if (out.welcome) accepted.push(body.agentId);
          else wrong.push(`${what}: refused (${out.code} ${out.reason})`);
        } else {
          const why =
            Buffer.byteLength(frame) > 256 * 1024
              ? /^FRAME_TOO_LARGE: hello of \d+ bytes/
              : /^FRAME_BAD_BODY: hello \/body\/(agentId|hostname|labels|services)/;
          if (out.welcome) {
            accepted.push(body.agentId);
            wrong.push(`${what}: welcomed`);
          } else refused.push(body.agentId);
          if (!out.welcome && (out.code !== 1008 || !why.test(out.reason ?? ''))) wrong.push(`${what}: closed ${out.code} ${out.reason}, expected ${why}`);
        }
      }
      expect(wrong).toEqual([]);
      // Both kinds were tried, and plenty of each.
      expect(accepted.length).toBeGreaterThan(40);
      expect(refused.length).toBeGreaterThan(40);
      expect(fleet.controller!.child.exitCode).toBeNull();
      expect((await fleet.fetch('/healthz')).status).toBe(200);
    },
    180_000,
  );

  it.skipIf(skip)(
    'the enrollment API applies the same id rule: 400 naming agentId, or an enrollment',
    async () => {
      const made = await post(fleet.url, '/api/v1/enroll-tokens', { uses: 1000 }, '127.0.0.1');
      expect(made.status).toBe(201);
      const token = (made.json as { token: string }).token;
      const ids = [...new Set(fc.sample(word(24), { numRuns: 80, seed: pg ? 77 : 7 }))];
      let enrolled = 0;
      for (const agentId of ids) {
        const r = await post(fleet.url, '/v1/enroll', { token, agentId }, '127.0.0.9');
        if (idOk(agentId)) {
          expect(r.status, `enrolling ${JSON.stringify(agentId)}`).toBe(201);
          enrolled++;
        } else {
          expect(r.status, `enrolling ${JSON.stringify(agentId)} must be refused`).toBe(400);
          expect(r.json.error?.code).toBe('API_BAD_REQUEST');
          expect(r.json.error?.message).toMatch(/\/agentId: must not/);
        }
      }
      expect(enrolled).toBeGreaterThan(10);
      expect(enrolled).toBeLessThan(ids.length);
    },
    120_000,
  );

  it.skipIf(skip)(
    'good agents keep working, a result is still acked (the store flushes), and the store reads back after a restart',
    async () => {
      expect(good.welcomed).toBe(true);
      expect(await resultAcked(fleet.url, 'good-2')).toBe('ack good-2.0');
      await fleet.controller!.stop();
      await fleet.startController(
        pg ? { store: { type: 'postgres', url: db!.url }, cluster: { secret: CLUSTER_SECRET }, hostDownAfter: '30s' } : { hostDownAfter: '30s' },
      );
      const hosts = await waitFor(
        'the hosts, read back from the store',
        async () => {
          const list = await fleet.api<{ id: string; labels: Record<string, string>; hostname: string; services: string[] }[]>('/api/v1/hosts');
          return list.some((h) => h.id === 'good-2') && list;
        },
        20_000,
      );
      const ids = new Set(hosts.map((h) => h.id));
      for (const id of accepted) expect(ids.has(id), `host ${JSON.stringify(id)}`).toBe(true);
      for (const id of refused) if (!accepted.includes(id)) expect(ids.has(id), `refused host ${JSON.stringify(id)}`).toBe(false);
      for (const h of hosts) expect(clean({ agentId: h.id, hostname: h.hostname, labels: h.labels, services: h.services }), JSON.stringify(h.id)).toBe(true);
      await waitFor('good-1 back on the restarted controller', () => good.welcomed, 20_000);
      expect(await resultAcked(fleet.url, 'good-3')).toBe('ack good-3.0');
    },
    120_000,
  );
});
