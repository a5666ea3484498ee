// Type-aware lint; zero warnings allowed (npm run lint uses --max-warnings 0).
import js from '@eslint/js';
import simpleImportSort from 'eslint-plugin-simple-import-sort';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// One block of imports, no blank lines: side effects, packages, the libraries' aliases, relative.
const importOrder = ['error', { groups: [['^\\u0000', '^@?\\w', '^@agentmanager/', '^\\.']] }];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**', 'test-artifacts/**', 'apps/panel/dist/**', '**/*.js', '**/*.mjs', '!apps/panel/src/**/*.js'] },
  js.configs.recommended,
  // The control panel: plain browser modules (no type information), linted like the rest.
  {
    files: ['apps/panel/src/**/*.js'],
    languageOptions: { sourceType: 'module', globals: globals.browser },
    plugins: { 'simple-import-sort': simpleImportSort },
    rules: { 'simple-import-sort/imports': importOrder, 'simple-import-sort/exports': 'error' },
  },
  ...tseslint.configs.recommendedTypeChecked.map((c) => ({ ...c, files: ['**/*.ts'] })),
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'simple-import-sort': simpleImportSort },
    rules: {
      'simple-import-sort/imports': importOrder,
      'simple-import-sort/exports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-extraneous-class': 'off',
    },
  },
  {
    // One door for commit-time writes: outbox/commit-journal.ts (the only file exempt below).
    files: ['apps/**/*.ts'],
    ignores: ['apps/server/src/outbox/commit-journal.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/libs/database/src', '**/libs/database/src/transaction'],
              importNames: ['setCommitStatement', 'onCommitted'],
              message: 'Commit-time writes go through apps/server/src/outbox/commit-journal.ts.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', '**/*.e2e-spec.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
