import { describe, expect, it } from 'vitest';
import { checkSummary, renderSummary, SUMMARY_MAX } from '../../../../controller/rules/template.js';

const base = { host: 'web-1', rule: 'services/app-errors', severity: 'warning', labels: { role: 'web' } };

describe('summary templates', () => {
  it('render host, rule, severity and labels; unknown keys stay as written', () => {
    expect(renderSummary('{{host}} {{ rule }} {{severity}} {{labels.role}} {{labels.missing}}|{{nope}}', base)).toBe(
      'web-1 services/app-errors warning web |{{nope}}',
    );
  });

  it('render a value of the facts by path, one line, cut to length; nothing when the fact is absent', () => {
    const facts = {
      log: { 'app-errors': { count: 3, lastLine: 'ERROR db timeout\nat pool.js:10' } },
      top: { memory: [{ name: 'java', pid: 42, user: 'app', cpuPercent: 1, rssBytes: 2e9 }], cpu: [] },
      memory: { usedPercent: 91.23456 },
    };
    const t = "{{facts.log['app-errors'].lastLine}} | {{facts.top.memory[0].name}} ({{facts.top.memory[0].pid}}) | {{facts.memory.usedPercent}}%";
    expect(renderSummary(t, { ...base, facts })).toBe('ERROR db timeout at pool.js:10 | java (42) | 91.23%');
    expect(renderSummary('[{{facts.top.cpu[0].name}}]', { ...base, facts })).toBe('[]');
    expect(renderSummary('[{{facts.log.x.lastLine}}]', base)).toBe('[]');
    const long = renderSummary('{{facts.log.a.lastLine}}', { ...base, facts: { log: { a: { lastLine: 'x'.repeat(5000) } } } });
    expect(long.length).toBe(200);
    expect(long.endsWith('…')).toBe(true);
    expect(renderSummary('{{match}}'.repeat(200), { ...base, match: ['abcdef'] }).length).toBe(SUMMARY_MAX);
  });

  it('name at most ten matched keys, then how many more', () => {
    const match = Array.from({ length: 12 }, (_, i) => `c${i}`);
    expect(renderSummary('{{match}}', { ...base, match })).toBe('c0, c1, c2, c3, c4, c5, c6, c7, c8, c9 and 2 more');
    expect(renderSummary('[{{match}}]', base)).toBe('[]');
  });

  it('are checked at load: unknown placeholders, facts and bad paths are named', () => {
    expect(checkSummary('{{host}} {{labels.x}} {{match}} {{facts.top.memory[0].name}}')).toEqual([]);
    expect(checkSummary('{{hostname}}')).toEqual([expect.stringMatching(/^unknown placeholder \{\{hostname\}\}/)]);
    expect(checkSummary('{{facts.gpu.x}}')).toEqual([expect.stringMatching(/unknown fact "gpu"/)]);
    expect(checkSummary('{{facts.cert..x}}')).toEqual([expect.stringMatching(/bad path/)]);
    expect(checkSummary('{{facts.cert.*.daysLeft}}')).toEqual([expect.stringMatching(/use \{\{match\}\}/)]);
  });
});
