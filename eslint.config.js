// Lint guards what review misses: floating promises anywhere, Node built-ins or I/O in
// workflows/ (workflow code must stay deterministic; the bundler would fail late otherwise), and
// object spread on the in-context path (a regression there shows only as a slower p99 in a bench).
const tseslint = require('typescript-eslint');

module.exports = tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tools/**', '.data/**', 'coverage/**', '*.js', 'test/support/*.js'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: __dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', 'fs', 'path', 'crypto', 'http', 'https', 'net', 'child_process', 'os'], message: 'Workflows are deterministic: no Node built-ins.' },
            { group: ['**/src/**', '@temporalio/client', '@temporalio/worker', 'pg', '@electric-sql/*'], message: 'Workflows reach I/O only through activities.' },
          ],
          paths: [],
        },
      ],
    },
  },
  {
    // Every in-context call runs these. On Node 20 an object spread with properties after it
    // (`{ ...x, more }`) was kept through two scavenges and promoted: 5-10 KB a decision, a full GC
    // every ~15 s at 2,000/s, and each full GC set a row's p99 (see DecisionService.evaluate).
    files: [
      'src/decisions/decision-service.ts',
      'src/tasks/tasks.service.ts',
      'src/tasks/tasks.controller.ts',
      'src/policy/rate-windows.ts',
      'src/policy/session.ts',
      'src/projection/live-projection.ts',
      'src/audit/chain.ts',
      'src/audit/trace-store.ts',
    ],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'ObjectExpression > SpreadElement', message: 'No object spread on the in-context path: use Object.assign({}, …) or explicit fields (it is promoted to old space on Node 20).' },
      ],
    },
  },
);
