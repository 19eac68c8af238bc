import {
  AuthenticationError,
  ConflictError,
  type HvkitError,
  NotFoundError,
  ProviderApiError,
} from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import {
  type LocalizedMethodFault,
  localizedFaultToError,
  soapFaultToError,
  vimFaultToError,
} from './soap-faults.js';
import { parseSoapResponse } from './soap-parser.js';
import { dig, readFixture } from './test-fixtures.js';

async function errorFor(name: string): Promise<HvkitError> {
  const parsed = await parseSoapResponse(readFixture(name).body);
  if (parsed.kind !== 'fault') throw new Error(`${name} is not a fault`);
  return soapFaultToError(parsed.fault, { provider: 'vcsim' });
}

describe('SOAP faults → core errors (recorded vcsim faults)', () => {
  it.each([
    ['fault-ManagedObjectNotFound-PowerOn-destroyed.res.xml', 'vm', 'vm-127'],
    ['fault-ManagedObjectNotFound-RetrievePropertiesEx.res.xml', 'vm', 'vm-9999'],
  ])('%s → NotFoundError', async (name, resource, id) => {
    const error = await errorFor(name);
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ resource, id, provider: 'vcsim', retryable: false });
  });

  it('NotFound (no snapshot to revert to) → NotFoundError of kind other', async () => {
    const error = await errorFor('fault-NotFound-RevertToCurrentSnapshot.res.xml');
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect(error.message).toBe('not found: snapshot not found');
  });

  it('InvalidPowerState → ConflictError(invalid-power-state) with both states', async () => {
    const error = await errorFor('fault-InvalidPowerState-ShutdownGuest.res.xml');
    expect(ConflictError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ reason: 'invalid-power-state', retryable: false });
    expect(error.details).toMatchObject({
      requestedState: 'poweredOn',
      existingState: 'poweredOff',
    });
  });

  it('InvalidState (power on a template) → ConflictError(invalid-state)', async () => {
    const error = await errorFor('PowerOnVM_Task-template.res.xml');
    expect(ConflictError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ reason: 'invalid-state' });
    expect(error.message).toBe('invalid state: InvalidState: cannot powerOn a template');
  });

  it.each(['fault-InvalidLogin.res.xml', 'fault-NotAuthenticated-expired-session.res.xml'])(
    '%s → AuthenticationError',
    async (name) => {
      expect(AuthenticationError.isInstance(await errorFor(name))).toBe(true);
    },
  );

  it.each([
    ['ContinueRetrievePropertiesEx.res.xml', 'MethodNotFound'],
    ['fault-MethodNotFound-RebootGuest.res.xml', 'MethodNotFound'],
    ['fault-InvalidArgument-CreateImportSpec.res.xml', 'InvalidArgument'],
    ['fault-InvalidArgument-TerminateSession-self.res.xml', 'InvalidArgument'],
    ['fault-InvalidRequest-malformed-xml.res.xml', 'InvalidRequest'],
    ['fault-unknown-method.res.xml', 'InvalidRequest'],
    ['MarkAsTemplate-already-template.res.xml', 'NotSupported'],
    ['WaitForUpdatesEx-cancelled.res.xml', 'RequestCanceled'],
    // The session is valid; the role lacks a privilege. Logging in again cannot help.
    ['synthetic-vcenter-fault-NoPermission.res.xml', 'NoPermission'],
  ])('%s → ProviderApiError with fault %s, not retryable', async (name, fault) => {
    const error = await errorFor(name);
    expect(ProviderApiError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ fault, status: 500, retryable: false, provider: 'vcsim' });
  });

  it('keeps the fault string and detail, and says which fault it was', async () => {
    const error = await errorFor('fault-MethodNotFound-RebootGuest.res.xml');
    expect(error.message).toBe(
      'vSphere fault MethodNotFound: VirtualMachine:vm-57 does not implement: RebootGuest',
    );
    expect(error.details).toMatchObject({
      faultstring: 'VirtualMachine:vm-57 does not implement: RebootGuest',
      detail: { receiver: { type: 'VirtualMachine', value: 'vm-57' }, method: 'RebootGuest' },
    });
  });

  it('redacts secrets in the fault string', () => {
    const error = vimFaultToError(
      'InvalidArgument',
      'bad value vmware_soap_session="52a1" and s3cr3t-pass',
      {},
      { redact: { secrets: ['s3cr3t-pass'] } },
    );
    expect(error.message).not.toContain('52a1');
    expect(error.message).not.toContain('s3cr3t-pass');
    expect(JSON.stringify(error.toJSON())).not.toContain('s3cr3t-pass');
  });

  it.each([
    ['TaskInProgress', 'locked', true],
    ['DuplicateName', 'already-exists', false],
  ])('%s → ConflictError(%s)', (fault, reason, retryable) => {
    const error = vimFaultToError(fault, '', {});
    expect(ConflictError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ reason, retryable });
  });
});

describe('task errors (TaskInfo.error) → the same core errors', () => {
  it('InvalidPowerState from a recorded TaskInfo', async () => {
    const parsed = await parseSoapResponse(
      readFixture('PowerOnVM_Task-already-on.TaskInfo.res.xml').body,
    );
    if (parsed.kind !== 'result') throw new Error('expected a result');
    const taskError = dig(parsed.returnval[0], 'objects', 0, 'propSet', 0, 'val', 'error');
    const error = localizedFaultToError(taskError as LocalizedMethodFault, { provider: 'vcsim' });
    expect(ConflictError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ reason: 'invalid-power-state', provider: 'vcsim' });
    expect(error.details).toMatchObject({
      requestedState: 'poweredOn',
      existingState: 'poweredOn',
    });
  });

  it.each([
    ['InvalidVmConfig', 'ProviderApiError'],
    ['InvalidDeviceSpec', 'ProviderApiError'],
    ['FileNotFound', 'ProviderApiError'],
    ['ManagedObjectNotFound', 'NotFoundError'],
  ])('%s → %s', (type, name) => {
    const error = localizedFaultToError({
      fault: { $type: type },
      localizedMessage: `*types.${type}`,
    });
    expect(error.name).toBe(name);
  });

  it('a task error without a fault type is still a provider API error', () => {
    const error = localizedFaultToError({ localizedMessage: 'something broke' });
    expect(ProviderApiError.isInstance(error)).toBe(true);
    expect((error as ProviderApiError).fault).toBe('unknown');
  });
});
