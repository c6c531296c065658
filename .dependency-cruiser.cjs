/**
 * Import boundaries and cycles, checked over the whole tree by `npm run lint:imports`.
 * Type-only imports count: a cycle of types is still two files that cannot be read apart.
 */

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'agent-imports-controller',
      comment: 'agent/ and controller/ talk over the wire only; what both need lives in protocol/',
      severity: 'error',
      from: { path: '^agent/' },
      to: { path: '^controller/' },
    },
    {
      name: 'controller-imports-agent',
      comment: 'agent/ and controller/ talk over the wire only; what both need lives in protocol/',
      severity: 'error',
      from: { path: '^controller/' },
      to: { path: '^agent/' },
    },
    {
      name: 'protocol-imports-ours',
      comment: 'protocol/ is shared by both sides, so it imports only itself and packages',
      severity: 'error',
      from: { path: '^protocol/' },
      to: { dependencyTypes: ['local'], pathNot: '^protocol/' },
    },
    {
      name: 'shipped-imports-tests',
      comment: 'what npm run pack bundles must not pull in test helpers or benchmarks',
      severity: 'error',
      from: { path: '^(protocol|agent|controller|cli)/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'no-cycles',
      comment: 'move what both files need into a third (e.g. agent/actions/types.ts)',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules|coverage|reports|data)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    skipAnalysisNotInRules: true,
  },
};
