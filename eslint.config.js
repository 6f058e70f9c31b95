// Lint: the recommended JavaScript and TypeScript rules; type-aware checks stay in `tsc`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test-artifacts/**', 'data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-control-regex': 'off',
    },
  },
  {
    files: ['ui/**/*.js'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', fetch: 'readonly', setTimeout: 'readonly', console: 'readonly' } },
  },
  {
    files: ['fleet/ui/**/*.js'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', console: 'readonly' } },
  },
);
