/** Jest runs every suite under test/: unit/, sim/ and the wider ones; slow suites are tagged by folder. */
export default {
  // jest's node environment with an ordinary global object: globals read through a contextified
  // Proxy made CPU-bound tests 5-100 times slower (see the file).
  testEnvironment: '<rootDir>/test/support/jest-environment.mjs',
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2024' }, module: { type: 'es6' } }],
  },
};
