// Lint guards what review misses: floating promises anywhere, and Node built-ins or I/O in
// workflows/ (workflow code must stay deterministic; the bundler would fail late otherwise).
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
);
