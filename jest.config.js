/** Tests live beside the code under lab/. Kernel tests need root; they run serially
 *  in one worker so that the host-namespace snapshot test sees no other lab mid-flight. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/lab'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  testTimeout: 60000,
  maxWorkers: 1,
  reporters: ['default', ['jest-junit', { outputDirectory: 'results', outputName: 'junit-tests.xml' }]],
};
