/** One jest project for the monorepo: sources run through swc, packages map to their src. */
module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.(ts|js)$': [
      '@swc/jest',
      { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } },
    ],
  },
  // @kubernetes/client-node and some of its dependencies ship only ES modules; jest's CommonJS
  // runtime loads them only when they are compiled too (its native require(esm) needs
  // --experimental-vm-modules for the whole run). Everything else in node_modules is left alone.
  transformIgnorePatterns: [
    '^(?!.*/node_modules/(@kubernetes/client-node|openid-client|oauth4webapi|jose|socks-proxy-agent|agent-base|jsonpath-plus|rfc4648)/).*/node_modules/',
  ],
  moduleNameMapper: { '^@agentyard/(.*)$': '<rootDir>/packages/$1/src' },
  testMatch: [
    '<rootDir>/packages/*/src/**/*.test.ts',
    '<rootDir>/apps/*/src/**/*.test.ts',
    '<rootDir>/tests/**/*.test.ts',
  ],
  globalSetup: '<rootDir>/tests/helpers/global-setup.ts',
  globalTeardown: '<rootDir>/tests/helpers/global-teardown.ts',
  testTimeout: 60000,
};
