import { readFileSync } from 'node:fs';
import {
  ConflictError,
  type HvkitError,
  NotFoundError,
  ProviderApiError,
  TransportError,
} from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import { mapVirshError, virshErrorText } from './libvirt-errors.js';

// Real stderr of failing virsh commands on the test bed (scripts/record-fixtures.sh).
function fixture(name: string): string {
  return readFileSync(new URL(`./virsh/__fixtures__/${name}.stderr.txt`, import.meta.url), 'utf8');
}

function map(name: string, command = 'cmd'): HvkitError {
  return mapVirshError(fixture(name), { command: [command], provider: 'libvirt' });
}

describe('mapVirshError on recorded libvirt 9.0 texts', () => {
  it.each([
    ['err-domain-not-found', 'vm', 'hvkit-lv1-no-such-domain'],
    ['err-domain-not-found-uuid', 'vm', '6d4f1c1e-0000-4000-8000-000000000000'],
    ['err-vol-not-found', 'disk', 'hvkit-lv1-no-such-vol'],
    ['err-pool-not-found', 'storage', 'hvkit-lv1-no-such-pool'],
    ['err-network-not-found', 'network', 'hvkit-lv1-no-such-net'],
    ['err-snapshot-not-found', 'snapshot', 'hvkit-lv1-no-such-snap'],
  ])('%s → NotFoundError(%s, %s)', (name, resource, id) => {
    const error = map(name);
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect((error as NotFoundError).resource).toBe(resource);
    expect((error as NotFoundError).id).toBe(id);
    expect(error.provider).toBe('libvirt');
  });

  it.each([
    ['err-already-exists-uuid', 'already-exists'],
    ['err-vol-exists', 'already-exists'],
    ['err-domain-not-running', 'invalid-power-state'],
    ['err-domain-not-running-destroy', 'invalid-power-state'],
    ['err-domain-not-running-suspend', 'invalid-power-state'],
    ['err-domain-already-running', 'invalid-power-state'],
    ['err-agent-not-responding', 'invalid-state'],
    ['err-revert-external', 'invalid-state'],
    ['err-setmaxmem-live', 'invalid-state'],
  ])('%s → ConflictError(%s)', (name, reason) => {
    const error = map(name, 'start');
    expect(ConflictError.isInstance(error)).toBe(true);
    expect((error as ConflictError).reason).toBe(reason);
    // The message keeps libvirt's own words.
    expect(error.message).toContain(virshErrorText(fixture(name)).split('\n').pop());
    expect(error.details).toMatchObject({ command: 'start' });
  });

  it('maps the recorded `domain is already running` and write-lock texts', () => {
    const running = mapVirshError(
      'error: Failed to resume domain x\nerror: Requested operation is not valid: domain is already running\n',
      { command: ['resume'] },
    );
    expect((running as ConflictError).reason).toBe('invalid-power-state');
    const locked = mapVirshError(
      'error: Failed to start domain base\nerror: internal error: qemu unexpectedly closed the monitor: Failed to get "write" lock\n',
      { command: ['start'] },
    );
    expect((locked as ConflictError).reason).toBe('locked');
    expect(locked.retryable).toBe(true);
  });

  it.each([
    ['error: Domain is not running\n', 'invalid-power-state'],
    [
      'error: Failed to rename domain\nerror: Requested operation is not valid: cannot rename active domain\n',
      'invalid-power-state',
    ],
    [
      'error: Timed out during operation: cannot acquire state change lock (held by monitor=remoteDispatchDomainSnapshotCreateXML)\n',
      'locked',
    ],
    [
      "error: Failed to refresh pool default\nerror: Requested operation is not valid: pool 'default' has asynchronous jobs running.\n",
      'locked',
    ],
  ])('maps %j to ConflictError %s', (stderr, reason) => {
    const error = mapVirshError(stderr, { command: ['x'] });
    expect((error as ConflictError).reason).toBe(reason);
  });

  it('keeps anything else a ProviderApiError carrying virsh’s text', () => {
    const error = map('err-unknown-command', 'hvkit-lv1-no-such-command');
    expect(ProviderApiError.isInstance(error)).toBe(true);
    expect((error as ProviderApiError).fault).toBe("unknown command: 'hvkit-lv1-no-such-command'");
    expect(error.message).toBe(
      "virsh hvkit-lv1-no-such-command: unknown command: 'hvkit-lv1-no-such-command'",
    );
  });

  it('reports an unreachable libvirtd as a TransportError: retryable only when nothing was sent', () => {
    const notConnected = mapVirshError(
      "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory\n",
      { command: ['list'] },
    );
    expect(TransportError.isInstance(notConnected)).toBe(true);
    expect(notConnected.retryable).toBe(true);
    expect(notConnected.details).toMatchObject({ outcome: 'not-sent' });
    const lost = mapVirshError('error: End of file while reading data: Input/output error\n', {
      command: ['define'],
    });
    expect(TransportError.isInstance(lost)).toBe(true);
    expect(lost.retryable).toBe(false);
    expect(lost.details).toMatchObject({ outcome: 'unknown' });
  });

  it('joins multi-line errors and drops the `error: ` prefixes', () => {
    expect(virshErrorText(fixture('err-agent-not-responding'))).toBe(
      'Failed to query for interfaces addresses\nGuest agent is not responding: QEMU guest agent is not connected',
    );
    expect(virshErrorText('no prefix at all\n')).toBe('no prefix at all');
  });
});
