// The esbuild options both release bundles share (scripts/pack.mjs), and the check that keeps a
// package out of a bundle. Shared with test/unit/agent/bundle.test.ts, which builds the agent
// the way the pack does and fails when zod is back on its path.
import { dirname } from 'node:path';

/** Options both bundles share. */
export const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // Prefer a package's ES module build: jsonc-parser's "main" is a UMD file whose lazy
  // require('./impl/…') calls esbuild cannot follow.
  mainFields: ['module', 'main'],
  external: ['systeminformation'],
  // CommonJS dependencies bundled into an ES module still call require() for Node's own
  // modules (and ws for its optional native add-ons, inside try/catch): give them one.
  banner: { js: "import { createRequire as __laasCreateRequire } from 'node:module'; const require = __laasCreateRequire(import.meta.url);" },
  define: { 'process.env.NODE_ENV': '"production"' },
  legalComments: 'eof',
  logLevel: 'warning',
  metafile: true,
  // V8 keeps a module's whole source in memory, and as UTF-16 (twice the size) if one
  // character in it is not Latin-1: minified, and ASCII-only (see asciiOnly), the agent's
  // source is ~0.65 MB of one-byte text instead of 2.6 MB. Identifiers are kept, so stack
  // traces still name our functions. Measured in bench/RESULTS.md (agent-footprint).
  minifyWhitespace: true,
  minifySyntax: true,
  plugins: [zodEnglishOnly()],
};

/**
 * zod's index re-exports all ~50 locales (~400 KiB of source) for z.locales; laas only ever
 * uses English, the one zod configures by default, so the others are left out of the bundles.
 * Error messages are unchanged (the unit and bad-input tests run against the same zod).
 */
function zodEnglishOnly() {
  return {
    name: 'zod-english-only',
    setup(b) {
      b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({
        contents: 'export { default as en } from "./en.js";',
        loader: 'js',
        resolveDir: dirname(args.path),
      }));
    },
  };
}

/** The bundle's input files that come from any of the named packages (node_modules/<name>/). */
export function forbiddenInputs(metafile, packages) {
  return Object.keys(metafile.inputs).filter((f) => packages.some((p) => f.replace(/\\/g, '/').includes(`node_modules/${p}/`)));
}
