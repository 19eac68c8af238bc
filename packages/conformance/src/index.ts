export { CONFORMANCE_TESTS, type ConformanceTestInfo } from './catalog.js';
export { defineConformanceSuite, unsupportedTestName } from './define-suite.js';
export type { ConformanceFixtures, ConformanceOptions } from './options.js';
