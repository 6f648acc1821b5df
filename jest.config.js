/** Jest runs every suite under test/: unit/, sim/ and the wider ones; slow suites are tagged by folder. */
export default {
  testEnvironment: '<rootDir>/test/support/jest-environment.mjs',
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2024' }, module: { type: 'es6' } }],
  },
};
