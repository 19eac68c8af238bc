import { createProvider, type Provider } from '@hvkit/core';
import type { MockBackend } from './mock-backend.js';
import { createMockDriver } from './mock-driver.js';
import type { MockFaults } from './mock-faults.js';
import type { MockProviderOptions } from './mock-options.js';

/** A Mock provider: the full contract, plus its backend and its scripted faults. */
export type MockProvider = Provider & {
  /** The in-memory hypervisor (shared when `options.backend` was given). */
  readonly backend: MockBackend;
  /** Add or clear scripted faults at any time. */
  readonly faults: MockFaults;
};

/**
 * A deterministic in-memory provider that declares every capability and behaves like vSphere
 * where the contract allows several answers. Throws `TypeError` for invalid options (unknown
 * capability id, malformed fault rule, duplicate inventory names, unreadable state file).
 */
export function createMockProvider(options: MockProviderOptions = {}): MockProvider {
  const driver = createMockDriver(options);
  const provider = createProvider(driver);
  Object.defineProperties(provider, {
    backend: { value: driver.backend, enumerable: false },
    faults: { value: driver.faults, enumerable: false },
  });
  return provider as MockProvider;
}
