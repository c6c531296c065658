import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { common, forbiddenInputs } from '../../../scripts/bundle-options.mjs';

/** The module graph of one release bundle, built as `npm run pack` builds it (nothing written). */
async function inputsOf(entry: string) {
  const result = await build({ ...common, entryPoints: [entry], outfile: 'laas-bundle-test.mjs', write: false, metafile: true, logLevel: 'silent' });
  return result.metafile;
}

/**
 * The installed agent must stay under 50 MB RSS (issue #9); zod's classic schemas alone cost it
 * ~2.5 MiB, so every schema on the agent's path is valibot. This fails when a module reachable
 * from cli/agent-main.ts imports zod again (the pack refuses such a bundle too).
 */
describe('the installed agent bundle', () => {
  it('holds no module of zod, and valibot is what validates', async () => {
    const meta = await inputsOf('cli/agent-main.ts');
    expect(Object.keys(meta.inputs).length).toBeGreaterThan(50);
    expect(forbiddenInputs(meta, ['zod'])).toEqual([]);
    expect(forbiddenInputs(meta, ['valibot']).length).toBeGreaterThan(0);
  }, 60_000);

  it('the check sees zod where it is bundled: in the whole CLI, which has the controller', async () => {
    const meta = await inputsOf('cli/main.ts');
    expect(forbiddenInputs(meta, ['zod']).length).toBeGreaterThan(0);
  }, 60_000);
});
