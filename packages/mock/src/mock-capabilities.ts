import {
  CAPABILITY_IDS,
  type CapabilityDeclarations,
  type CapabilityMap,
  declareCapabilities,
} from '@hvkit/core';

/** The Mock implements every capability of the catalog. */
export const MOCK_CAPABILITIES: CapabilityDeclarations = Object.fromEntries(
  CAPABILITY_IDS.map((id) => [id, 'supported']),
) as unknown as CapabilityDeclarations;

/**
 * The Mock's declaration with `overrides` applied, so tests can exercise unsupported paths
 * (`{ 'core.taskCancel': 'unsupported' }`). Throws `TypeError` for an unknown id or a `partial`
 * declaration without a note.
 */
export function mockCapabilities(overrides: Partial<CapabilityDeclarations> = {}): CapabilityMap {
  return declareCapabilities({ ...MOCK_CAPABILITIES, ...overrides });
}
