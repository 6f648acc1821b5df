import eslint from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/**', 'coverage/**', 'data/**', '.cache/**'] },
  eslint.configs.recommended,
  tseslint.configs.strictTypeChecked,
  tseslint.configs.stylisticTypeChecked,
  { languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } } },
  {
    rules: {
      // Numbers in template strings are fine (ids, indexes, terms); objects are not.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // strictTypeChecked forbids `x!`; this stylistic rule would demand it. Explicit casts stay.
      '@typescript-eslint/non-nullable-type-assertion-style': 'off',
      // Express tells error handlers apart by arity; an unused `_next` must stay.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // The pure core must stay pure: no I/O, no clock, no ambient randomness (ARCHITECTURE §1).
    files: ['node/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['node:*', 'express', 'redis', 'prom-client', '**/shell/**'] }],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'inject a seeded Random' },
        { object: 'Date', property: 'now', message: 'the core has no clock' },
      ],
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval', 'setImmediate', 'process', 'console'],
    },
  },
  {
    // @kubernetes/client-node declares its V1* models as classes, but they are plain data (the
    // API and the library's own serializer take object literals): literals and spreads are how
    // Kubernetes objects are built.
    files: ['operator/**/*.ts', 'test/**/operator/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-class-instance-assignment': 'off', '@typescript-eslint/no-misused-spread': 'off' },
  },
  { files: ['**/*.{js,mjs,cjs}'], extends: [tseslint.configs.disableTypeChecked] },
);
