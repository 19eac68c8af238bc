import { describe, expect, it } from 'vitest';
import { classifyProxmoxMessage, errorFromResponse } from './response-errors.js';

const context = (status: number, message: string, errors?: Record<string, string>) => ({
  method: 'POST',
  path: '/nodes/pve/qemu/100/config',
  status,
  message,
  errors,
});

describe('errorFromResponse', () => {
  it.each([
    [401, 'permission denied - invalid PVE ticket', { code: 'AUTHENTICATION' }],
    [401, 'Authentication failed!', { code: 'AUTHENTICATION' }],
    [401, 'No ticket', { code: 'AUTHENTICATION' }],
    [
      403,
      "Permission check failed (URI '/access/password' not available with API token, need proper ticket.",
      { code: 'AUTHENTICATION' },
    ],
    [
      403,
      'Permission check failed (/vms/100, VM.PowerMgmt)',
      { code: 'PROVIDER_API', status: 403, fault: 'permission-denied', retryable: false },
    ],
    [
      500,
      "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout",
      { code: 'CONFLICT', reason: 'locked', retryable: true },
    ],
    [
      500,
      "can't lock file '/var/lock/pve-manager/pve-storage-local-lvm' - got timeout",
      { code: 'CONFLICT', reason: 'locked' },
    ],
    [500, 'VM is locked (clone)', { code: 'CONFLICT', reason: 'locked', retryable: true }],
    [
      500,
      'VM 100 not running',
      { code: 'CONFLICT', reason: 'invalid-power-state', retryable: false },
    ],
    [500, 'VM 100 is not running', { code: 'CONFLICT', reason: 'invalid-power-state' }],
    [
      500,
      "you can't convert a VM to template if VM is running",
      { code: 'CONFLICT', reason: 'invalid-power-state' },
    ],
    [
      500,
      'QEMU guest agent is not running',
      { code: 'CONFLICT', reason: 'invalid-state', retryable: true },
    ],
    [
      500,
      'checksum mismatch (file change by other user?)',
      { code: 'CONFLICT', reason: 'invalid-state' },
    ],
    [
      500,
      'detected modified configuration - file changed by other user? Try again.',
      { code: 'CONFLICT', reason: 'invalid-state' },
    ],
    [
      500,
      "unable to create VM 100 - VM 100 already exists on node 'pve'",
      { code: 'CONFLICT', reason: 'already-exists' },
    ],
    [
      500,
      'unable to create VM 101: config file already exists',
      { code: 'CONFLICT', reason: 'already-exists' },
    ],
    [
      500,
      "Configuration file 'nodes/pve/qemu-server/999.conf' does not exist",
      { code: 'NOT_FOUND', resource: 'vm', id: 'pve/999' },
    ],
    [
      500,
      "snapshot 'before' does not exist",
      { code: 'NOT_FOUND', resource: 'snapshot', id: 'before' },
    ],
    [500, "storage 'tank' does not exist", { code: 'NOT_FOUND', resource: 'storage', id: 'tank' }],
    [
      500,
      "hostname lookup 'nosuchnode' failed - failed to get address info",
      { code: 'NOT_FOUND', resource: 'host', id: 'nosuchnode' },
    ],
    [404, 'Not Found', { code: 'NOT_FOUND', resource: 'other' }],
    [
      501,
      "Method 'GET /foo' not implemented",
      { code: 'PROVIDER_API', status: 501, fault: 'not-implemented', retryable: false },
    ],
    [
      500,
      "Linked clone feature is not supported for 'local-lvm:vm-100-disk-0' (scsi0)",
      { code: 'CONFLICT', reason: 'invalid-state', retryable: false },
    ],
    [503, 'Service Unavailable', { code: 'PROVIDER_API', status: 503, retryable: true }],
  ] as const)('%i %s', (status, message, expected) => {
    expect(errorFromResponse(context(status, message))).toMatchObject(expected);
  });

  it('keeps per-parameter errors and names them in the message', () => {
    const error = errorFromResponse(
      context(400, 'Parameter verification failed.', {
        full: "type check ('boolean') failed - got 'true'",
      }),
    );
    expect(error).toMatchObject({
      code: 'PROVIDER_API',
      status: 400,
      fault: 'parameter-verification',
      retryable: false,
    });
    expect(error.details.errors).toEqual({ full: "type check ('boolean') failed - got 'true'" });
    expect(error.message).toBe(
      "Proxmox POST /nodes/pve/qemu/100/config failed (HTTP 400): Parameter verification failed: full: type check ('boolean') failed - got 'true'",
    );
  });

  it('classifies a parameter error that names a missing task or a clash', () => {
    expect(
      errorFromResponse(context(400, 'Parameter verification failed.', { upid: 'no such task' })),
    ).toMatchObject({
      code: 'NOT_FOUND',
      resource: 'task',
    });
    expect(
      errorFromResponse(
        context(400, 'Parameter verification failed.', { vmid: 'VM 200 already exists' }),
      ),
    ).toMatchObject({
      code: 'CONFLICT',
      reason: 'already-exists',
    });
  });

  it('redacts secrets from messages and parameter errors', () => {
    const error = errorFromResponse({
      ...context(400, 'bad value hunter22-secret', { password: 'hunter22-secret' }),
      options: { redact: { secrets: ['hunter22-secret'] } },
    });
    expect(JSON.stringify(error)).not.toContain('hunter22-secret');
    expect(error.message).not.toContain('hunter22-secret');
  });
});

describe('classifyProxmoxMessage', () => {
  it('maps task exit statuses too', () => {
    expect(
      classifyProxmoxMessage(
        "clone failed: can't lock file '/var/lock/pve-manager/pve-storage-local-lvm' - got timeout",
      ),
    ).toMatchObject({
      reason: 'locked',
      details: { lockFile: '/var/lock/pve-manager/pve-storage-local-lvm' },
    });
    expect(classifyProxmoxMessage('VM 100 already running')).toMatchObject({
      reason: 'invalid-power-state',
    });
    expect(classifyProxmoxMessage('interrupted by signal')).toBeUndefined();
  });
});
