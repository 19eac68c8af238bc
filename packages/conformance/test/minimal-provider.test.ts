/**
 * The smallest provider a third party could write: it declares every capability unsupported (or
 * not applicable) and implements only the mandatory driver methods. The suite must pass it with
 * one refusal test per capability, and without touching the backend for any of them.
 */
import {
  CAPABILITY_IDS,
  createProvider,
  declareCapabilities,
  NotFoundError,
  type ProviderDriver,
} from '@hvkit/core';
import { defineConformanceSuite } from '../src/index.js';

let ioCount = 0;

function createMinimalProvider() {
  const driver: ProviderDriver = {
    type: 'minimal',
    name: 'minimal',
    capabilities: declareCapabilities(
      { 'advanced.faultTolerance': 'not-applicable', 'guest.tools': 'not-applicable' },
      { defaults: 'unsupported' },
    ),
    async validate() {
      ioCount += 1;
      return { provider: 'minimal', type: 'minimal', version: '1.0', details: {}, warnings: [] };
    },
    async listPage() {
      ioCount += 1;
      return { items: [] };
    },
    async get(id) {
      ioCount += 1;
      throw new NotFoundError('vm', id, undefined, { provider: 'minimal' });
    },
    async getTask(id) {
      ioCount += 1;
      throw new NotFoundError('task', id, undefined, { provider: 'minimal' });
    },
  };
  return createProvider(driver);
}

defineConformanceSuite({
  name: `minimal provider (${CAPABILITY_IDS.length} capabilities refused)`,
  createProvider: createMinimalProvider,
  ioProbe: () => ioCount,
});
