export { CONFORMANCE_TESTS, type ConformanceTestInfo } from './catalog.js';
export { defineConformanceSuite, unsupportedTestName } from './define-suite.js';
export { countHttpRequests } from './http-probe.js';
export type { ConformanceFixtures, ConformanceOptions } from './options.js';
