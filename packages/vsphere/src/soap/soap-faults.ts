import {
  AuthenticationError,
  ConflictError,
  type HvkitError,
  type HvkitErrorOptions,
  NotFoundError,
  ProviderApiError,
  type ResourceKind,
} from '@hvkit/core';

/** A SOAP fault as parsed from a vim25 response (HTTP 500). */
export interface SoapFault {
  /** Always `ServerFaultCode` on vCenter and vcsim. */
  faultcode: string;
  /** Often empty (InvalidPowerState, NotAuthenticated); Go escapes quotes in it. */
  faultstring: string;
  /** The vim25 fault type from the detail's `xsi:type` (`ManagedObjectNotFound`). */
  type: string | undefined;
  /** The detail's fields as parsed values (`obj`, `requestedState`, …). */
  detail: Record<string, unknown>;
}

/** A task's `TaskInfo.error` (vim25 `LocalizedMethodFault`), as parsed. */
export interface LocalizedMethodFault {
  fault?: unknown;
  localizedMessage?: unknown;
}

/** Context for mapping a fault: the provider name, the HTTP status, the secrets to scrub. */
export interface FaultContext extends Pick<HvkitErrorOptions, 'provider' | 'redact'> {
  /** HTTP status of the response that carried the fault (500 for SOAP faults). */
  status?: number;
}

/** Faults that mean the session or the credentials are not accepted: log in (again). */
const AUTHENTICATION_FAULTS = new Set(['InvalidLogin', 'NotAuthenticated']);

const RESOURCE_KINDS: Readonly<Record<string, ResourceKind>> = {
  VirtualMachine: 'vm',
  VirtualMachineSnapshot: 'snapshot',
  Task: 'task',
  HostSystem: 'host',
  Datastore: 'storage',
  StoragePod: 'storage',
  Network: 'network',
  DistributedVirtualPortgroup: 'network',
  OpaqueNetwork: 'network',
  ResourcePool: 'resource-pool',
};

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/**
 * Maps a vim25 fault to the core error a caller can act on:
 *
 * - `ManagedObjectNotFound` → {@link NotFoundError} (kind from the moref's type, id = its value);
 *   `NotFound` (an item inside an object, e.g. "snapshot not found") → `NotFoundError('other')`;
 * - `InvalidPowerState` → `ConflictError('invalid-power-state')`, `InvalidState` →
 *   `ConflictError('invalid-state')`, `TaskInProgress` → `ConflictError('locked')` (retryable),
 *   `DuplicateName` → `ConflictError('already-exists')`;
 * - `InvalidLogin`, `NotAuthenticated` → {@link AuthenticationError};
 * - everything else, `NoPermission` included (the session is valid, the role lacks a privilege:
 *   logging in again cannot help) → {@link ProviderApiError} with `fault` = the fault type,
 *   not retryable (vim25 reports every fault with HTTP 500, which says nothing about retrying).
 *
 * Messages and details are redacted with `context.redact`.
 */
export function vimFaultToError(
  type: string | undefined,
  message: string,
  detail: Record<string, unknown>,
  context: FaultContext = {},
): HvkitError {
  const options = { provider: context.provider, redact: context.redact };
  const faultType = type ?? 'unknown';
  const described = message === '' ? faultType : `${faultType}: ${message}`;
  switch (faultType) {
    case 'ManagedObjectNotFound': {
      const obj = detail.obj as { type?: unknown; value?: unknown } | undefined;
      const objectType = text(obj?.type);
      const id = text(obj?.value);
      return new NotFoundError(
        RESOURCE_KINDS[objectType] ?? 'other',
        id,
        `${objectType === '' ? 'managed object' : objectType} ${JSON.stringify(id)} not found${message === '' ? '' : ` (${message})`}`,
        options,
      );
    }
    case 'NotFound':
      return new NotFoundError(
        'other',
        '',
        `not found: ${message === '' ? faultType : message}`,
        options,
      );
    case 'InvalidPowerState':
      return new ConflictError('invalid-power-state', `invalid power state: ${described}`, {
        ...options,
        details: {
          fault: faultType,
          requestedState: detail.requestedState,
          existingState: detail.existingState,
        },
      });
    case 'InvalidState':
      return new ConflictError('invalid-state', `invalid state: ${described}`, {
        ...options,
        details: { fault: faultType },
      });
    case 'TaskInProgress':
      return new ConflictError('locked', `another task is running on the object: ${described}`, {
        ...options,
        details: { fault: faultType },
      });
    case 'DuplicateName':
      return new ConflictError('already-exists', `the name is taken: ${described}`, {
        ...options,
        details: { fault: faultType },
      });
    default:
      if (AUTHENTICATION_FAULTS.has(faultType)) {
        return new AuthenticationError(`vSphere refused the session: ${described}`, options);
      }
      return new ProviderApiError(`vSphere fault ${described}`, {
        ...options,
        fault: faultType,
        retryable: false,
        ...(context.status === undefined ? {} : { status: context.status }),
        details: { faultstring: message, detail },
      });
  }
}

/** Maps a parsed SOAP fault to a core error (see {@link vimFaultToError}). */
export function soapFaultToError(fault: SoapFault, context: FaultContext = {}): HvkitError {
  return vimFaultToError(fault.type, fault.faultstring, fault.detail, {
    status: 500,
    ...context,
  });
}

/**
 * Maps a task's error (`TaskInfo.error`, a `LocalizedMethodFault` whose `fault` carries the vim25
 * fault type as `$type`) to the same core errors as a SOAP fault.
 */
export function localizedFaultToError(
  error: LocalizedMethodFault,
  context: FaultContext = {},
): HvkitError {
  const fault =
    typeof error.fault === 'object' && error.fault !== null
      ? (error.fault as Record<string, unknown>)
      : {};
  const { $type, ...detail } = fault;
  return vimFaultToError(
    typeof $type === 'string' ? $type : undefined,
    text(error.localizedMessage),
    detail,
    context,
  );
}
