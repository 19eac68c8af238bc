export {
  canonicalJson,
  createMockBackend,
  type LockMode,
  MockBackend,
  type MockBackendOptions,
  type MockTaskRequest,
  ROOT_RESOURCE_POOL_ID,
} from './mock-backend.js';
export { MOCK_CAPABILITIES, mockCapabilities } from './mock-capabilities.js';
export { BLANK_HEADER_BYTES, blankDiskHeader, CHUNK_BYTES } from './mock-disk-bytes.js';
export { createMockDriver, MockDriver } from './mock-driver.js';
export type { MockFaultError, MockFaultRule, MockFaults } from './mock-faults.js';
export type {
  MockInventory,
  MockInventoryOptions,
  MockNetworkInput,
  MockStoragePoolInput,
} from './mock-inventory.js';
export {
  DEFAULT_TASK_DURATIONS_MS,
  FALLBACK_TASK_DURATION_MS,
  type MockProviderOptions,
} from './mock-options.js';
export { createMockProvider, type MockProvider } from './mock-provider.js';
export type {
  MockBlob,
  MockDiskRecord,
  MockEventRecord,
  MockImageRecord,
  MockNicRecord,
  MockOperation,
  MockSnapshotRecord,
  MockTaskRecord,
  MockVmRecord,
} from './mock-state.js';
