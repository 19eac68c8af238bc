import {
  AuthenticationError,
  ConflictError,
  HvkitError,
  InvalidSpecError,
  type NotFoundError,
  ProviderApiError,
  TaskFailedError,
  TimeoutError,
} from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import shapes from './__fixtures__/derived-error-shapes.json' with { type: 'json' };
import taskStatus from './__fixtures__/derived-task-status.json' with { type: 'json' };
import nestedFormat from './__fixtures__/real-400-nested-format-error.json' with { type: 'json' };
import paramVerification from './__fixtures__/real-400-param-verification-pve7.json' with {
  type: 'json',
};
import guestLocked from './__fixtures__/real-500-guest-locked-pve7.json' with { type: 'json' };
import createVm from './__fixtures__/real-fog-create-vm.json' with { type: 'json' };
import deleted from './__fixtures__/real-fog-delete-and-missing.json' with { type: 'json' };
import power from './__fixtures__/real-fog-power.json' with { type: 'json' };
import taskFailed from './__fixtures__/real-fog-task-failed.json' with { type: 'json' };
import { classifyProxmoxMessage, errorFromResponse } from './api/response-errors.js';
import { TASK_LOG_TAIL, type TaskOutcome, taskOutcome } from './proxmox-errors.js';

/** A failed exchange as the client sees it, mapped by the one HTTP classifier. */
function httpError(
  failure: { status: number; reason?: string | undefined; body?: unknown },
  context: { method?: string; path?: string; provider?: string } = {},
): HvkitError {
  const body = failure.body;
  const record =
    typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : undefined;
  // As the client reads an answer: the `message` field, else the reason phrase, else the body.
  const message =
    typeof record?.message === 'string'
      ? record.message
      : (failure.reason ??
        (typeof body === 'string' && body.trim() !== '' ? body : `HTTP ${failure.status}`));
  const errors =
    typeof record?.errors === 'object' && record.errors !== null
      ? Object.fromEntries(
          Object.entries(record.errors as Record<string, unknown>).map(([key, value]) => [
            key,
            String(value),
          ]),
        )
      : undefined;
  return errorFromResponse({
    method: context.method ?? 'GET',
    path: context.path ?? '/',
    status: failure.status,
    message,
    errors,
    options: context.provider === undefined ? {} : { provider: context.provider },
  });
}

type Expectation = {
  code: string;
  reason?: string;
  resource?: string;
  id?: string;
  retryable?: boolean;
};

function check(error: HvkitError, expected: Expectation): void {
  expect(HvkitError.isInstance(error)).toBe(true);
  expect(error.code).toBe(expected.code);
  if (expected.reason !== undefined) expect((error as ConflictError).reason).toBe(expected.reason);
  if (expected.resource !== undefined)
    expect((error as NotFoundError).resource).toBe(expected.resource);
  if (expected.id !== undefined) expect((error as NotFoundError).id).toBe(expected.id);
  if (expected.retryable !== undefined) expect(error.retryable).toBe(expected.retryable);
}

/** What each example of derived-error-shapes.json maps to; every example is listed. */
const SHAPE_EXPECTATIONS: Record<string, Expectation> = {
  'missing/invalid parameter': { code: 'PROVIDER_API' },
  'boolean sent as "true" in form body': { code: 'PROVIDER_API' },
  'unknown parameter': { code: 'PROVIDER_API' },
  'enum violated': { code: 'PROVIDER_API' },
  'nextid with used vmid': { code: 'CONFLICT', reason: 'already-exists' },
  'no ticket / no auth header': { code: 'AUTHENTICATION' },
  'bad/expired ticket or bad token (pve-manager >= 9.1.5, Jan 2026)': { code: 'AUTHENTICATION' },
  'bad/expired ticket (PVE <= 9.1.4)': { code: 'AUTHENTICATION' },
  'ticket auth, non-GET without valid CSRFPreventionToken header': { code: 'AUTHENTICATION' },
  'POST /access/ticket wrong password': { code: 'AUTHENTICATION' },
  'permission missing': { code: 'PROVIDER_API', retryable: false },
  'endpoint with allowtoken=0 called with an API token (e.g. PUT /access/password)': {
    code: 'AUTHENTICATION',
  },
  'VM config missing': { code: 'NOT_FOUND', resource: 'vm', id: 'pve/999' },
  'VM locked': { code: 'CONFLICT', reason: 'locked', retryable: true },
  'create with existing vmid': { code: 'CONFLICT', reason: 'already-exists' },
  'clone into existing vmid': { code: 'CONFLICT', reason: 'already-exists' },
  'digest mismatch on config update': {
    code: 'CONFLICT',
    reason: 'invalid-state',
    retryable: true,
  },
  'digest mismatch on move_disk/others using assert_if_modified': {
    code: 'CONFLICT',
    reason: 'invalid-state',
    retryable: true,
  },
  'linked clone of non-template': { code: 'CONFLICT', reason: 'invalid-state' },
  'storage/format with linked clone': { code: 'PROVIDER_API' },
  'agent not running': { code: 'CONFLICT', reason: 'invalid-state', retryable: true },
  'agent call on stopped VM': { code: 'CONFLICT', reason: 'invalid-power-state' },
  'agent not configured': { code: 'CONFLICT', reason: 'invalid-state' },
  'reboot/suspend/resume/reset on a stopped VM (checked before forking)': {
    code: 'CONFLICT',
    reason: 'invalid-power-state',
  },
  'unknown node in /nodes/{node}/... (proxied method)': {
    code: 'NOT_FOUND',
    resource: 'host',
    id: 'nosuchnode',
  },
  'agent command timeout': { code: 'TIMEOUT' },
  'proxy to pvedaemon/other node timed out (30 s)': { code: 'TRANSPORT', retryable: false },
  'task status for unknown UPID': { code: 'NOT_FOUND', resource: 'task' },
};

describe('errorFromResponse on the derived error shapes', () => {
  const examples = shapes.examples.filter(
    (example) => 'status' in example && example.status !== 200,
  );
  // 595–599 are made up by pveproxy for a socket fault: the client turns them into
  // TransportErrors before any classification (client.test.ts: "596 on a POST").
  const proxied = examples.filter((example) => example.status >= 595 && example.status <= 599);
  const answered = examples.filter((example) => !proxied.includes(example));

  it('covers every HTTP error example', () => {
    expect(examples.map((example) => example.when).sort()).toEqual(
      Object.keys(SHAPE_EXPECTATIONS).sort(),
    );
    expect(proxied.map((example) => SHAPE_EXPECTATIONS[example.when]?.code)).toEqual(['TRANSPORT']);
  });

  it.each(answered.map((example) => [example.when, example] as const))('%s', (when, example) => {
    const record = example as {
      status: number;
      reason: string;
      body?: unknown;
      bodySince_pve8_4?: unknown;
    };
    const expected = SHAPE_EXPECTATIONS[when] as Expectation;
    for (const body of [record.body, record.bodySince_pve8_4].filter(
      (item) => item !== undefined,
    )) {
      const error = httpError(
        { status: record.status, reason: record.reason, body },
        { method: 'POST', path: '/nodes/pve/tasks/UPID:x/status', provider: 'pve1' },
      );
      check(error, expected);
      expect(error.provider).toBe('pve1');
    }
  });

  it('keeps the per-parameter errors of a 400 and its status', () => {
    const error = httpError({
      status: paramVerification.response.status,
      reason: paramVerification.response.reason,
      body: JSON.parse(paramVerification.response.rawBody),
    });
    expect(ProviderApiError.isInstance(error)).toBe(true);
    expect((error as ProviderApiError).status).toBe(400);
    expect(error.details.errors).toEqual({
      'overrule-shutdown':
        'property is not defined in schema and the schema does not allow additional properties',
    });
    expect(error.retryable).toBe(false);
    const nested = httpError({
      status: 400,
      reason: nestedFormat.response.reason,
      body: JSON.parse(nestedFormat.response.rawBody),
    });
    expect((nested.details.errors as Record<string, string>).ipconfig0).toMatch(
      /ipconfig0.gw: invalid format/,
    );
  });
});

describe('errorFromResponse on recorded exchanges', () => {
  it('the lock reason phrase of a real 500 is a retryable locked conflict naming the lock', () => {
    const error = httpError({
      status: guestLocked.response.status,
      reason: guestLocked.response.reason,
      body: JSON.parse(guestLocked.response.rawBody),
    });
    check(error, { code: 'CONFLICT', reason: 'locked', retryable: true });
    expect(error.details.lock).toBe('disk');
  });

  it('a second create of a used vmid is already-exists', () => {
    const response = createVm.interactions[1]?.response;
    check(
      httpError({
        status: response?.status ?? 0,
        reason: response?.reason,
        body: response?.body,
      }),
      {
        code: 'CONFLICT',
        reason: 'already-exists',
      },
    );
  });

  it('status of a destroyed VM is NotFoundError naming node/vmid', () => {
    const response = deleted.interactions[1]?.response;
    check(
      httpError({
        status: response?.status ?? 0,
        reason: response?.reason,
        body: response?.body,
      }),
      {
        code: 'NOT_FOUND',
        resource: 'vm',
        id: 'pve/100',
      },
    );
  });

  it('an unknown 500 is a ProviderApiError naming the message, not retried', () => {
    const error = httpError({ status: 500, reason: 'something new', body: { data: null } });
    expect(ProviderApiError.isInstance(error)).toBe(true);
    expect(error.message).toContain('something new');
    expect(error.retryable).toBe(false);
    expect(httpError({ status: 503, reason: 'Service Unavailable' }).retryable).toBe(true);
    expect(
      (
        httpError({
          status: 403,
          reason: 'Permission check failed (/vms/100, VM.PowerMgmt)',
        }) as ProviderApiError
      ).fault,
    ).toBe('permission-denied');
  });
});

describe('classifyProxmoxMessage', () => {
  it.each<[string, Expectation]>([
    [
      "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout",
      { code: 'CONFLICT', reason: 'locked' },
    ],
    [
      "can't lock file '/var/lock/pve-manager/pve-storage-local-lvm' - got timeout",
      { code: 'CONFLICT', reason: 'locked' },
    ],
    ['VM 100 already running', { code: 'CONFLICT', reason: 'invalid-power-state' }],
    ['VM 100 not running', { code: 'CONFLICT', reason: 'invalid-power-state' }],
    [
      "unable to find configuration file for VM 100 on node 'pve2'",
      { code: 'NOT_FOUND', resource: 'vm', id: 'pve2/100' },
    ],
    [
      "Configuration file 'nodes/pve/qemu-server/100.conf' does not exist",
      { code: 'NOT_FOUND', resource: 'vm', id: 'pve/100' },
    ],
    [
      "unable to create VM 100 - VM 100 already exists on node 'pve'",
      { code: 'CONFLICT', reason: 'already-exists' },
    ],
    [
      "Linked clone feature is not supported for 'local-lvm:vm-100-disk-0' (scsi0)",
      { code: 'CONFLICT', reason: 'invalid-state' },
    ],
    ["you can't start a vm if it's a template", { code: 'CONFLICT', reason: 'invalid-state' }],
    ["storage 'nosuch' does not exist", { code: 'NOT_FOUND', resource: 'storage', id: 'nosuch' }],
    ["bridge 'vmbr9' does not exist", { code: 'NOT_FOUND', resource: 'network', id: 'vmbr9' }],
    ["snapshot 'first' does not exist", { code: 'NOT_FOUND', resource: 'snapshot', id: 'first' }],
    ["volume 'local:import/x.qcow2' does not exist", { code: 'NOT_FOUND', resource: 'image' }],
    ['shrinking disks is not supported', { code: 'INVALID_SPEC' }],
  ])('%s', (message, expected) => {
    const error = classifyProxmoxMessage(message);
    expect(error).toBeDefined();
    check(error as HvkitError, expected);
    expect(error?.message).toContain(message);
  });

  it('names the lock file of a lock timeout', () => {
    expect(
      classifyProxmoxMessage("can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout")
        ?.details.lockFile,
    ).toBe('/var/lock/qemu-server/lock-100.conf');
  });

  it('retries an agent that is not running yet, not one that is not configured', () => {
    expect(classifyProxmoxMessage('QEMU guest agent is not running')?.retryable).toBe(true);
    expect(classifyProxmoxMessage('No QEMU guest agent configured')?.retryable).toBe(false);
  });

  it('leaves unknown texts alone', () => {
    expect(classifyProxmoxMessage('clone failed: out of space')).toBeUndefined();
  });
});

/** The error of a failed outcome; fails the test for any other outcome. */
function failure(outcome: TaskOutcome): HvkitError {
  if (outcome.state !== 'failed')
    throw new Error(`expected a failed outcome, got ${outcome.state}`);
  return outcome.error;
}

describe('taskOutcome', () => {
  const upid = taskStatus.stoppedOk.data.upid;

  it('OK and WARNINGS: n succeed', () => {
    expect(taskOutcome(taskStatus.stoppedOk.data.exitstatus, upid)).toEqual({
      state: 'succeeded',
      warnings: 0,
    });
    expect(taskOutcome(taskStatus.stoppedWarnings.data.exitstatus, upid)).toEqual({
      state: 'succeeded',
      warnings: 1,
    });
    const resumed = power.interactions[5]?.response.body as { data: { exitstatus: string } };
    expect(taskOutcome(resumed.data.exitstatus, upid).state).toBe('succeeded');
  });

  it('a cancelled task is canceled', () => {
    expect(taskOutcome('interrupted by signal', upid)).toEqual({
      state: 'canceled',
      message: 'interrupted by signal',
    });
  });

  it('a lock timeout inside a task error is the same conflict as before forking', () => {
    const outcome = taskOutcome(taskStatus.stoppedError.data.exitstatus, upid, [
      { n: 1, t: 'create full clone of drive scsi0 (local-lvm:base-9000-disk-0)' },
      { n: 2, t: `TASK ERROR: ${taskStatus.stoppedError.data.exitstatus}` },
    ]);
    expect(outcome.state).toBe('failed');
    const error = failure(outcome);
    check(error, { code: 'CONFLICT', reason: 'locked', retryable: true });
    expect(error.details.taskId).toBe(upid);
    expect(error.details.log).toHaveLength(2);
  });

  it('start of a running VM fails as invalid-power-state', () => {
    const outcome = taskOutcome('VM 100 already running', upid);
    expect(ConflictError.isInstance(failure(outcome))).toBe(true);
  });

  it('a missing volume inside a recorded task error is NotFoundError (image), with the log', () => {
    const recorded = taskFailed.interactions[0]?.response.body.data;
    const outcome = taskOutcome(recorded?.exitstatus ?? '', recorded?.upid ?? '', [
      { n: 1, t: `TASK ERROR: ${recorded?.exitstatus}` },
    ]);
    const error = failure(outcome) as NotFoundError;
    check(error, { code: 'NOT_FOUND', resource: 'image' });
    expect(error.id).toBe('local:vztmpl/alpine-3.10-default_20190626_amd64.tar.xz');
    expect(error.details.log).toEqual([`TASK ERROR: ${recorded?.exitstatus}`]);
  });

  it('other failures are TaskFailedError with the last log lines', () => {
    const log = Array.from({ length: 25 }, (_, index) => ({
      n: index + 1,
      t: `line ${index + 1}`,
    }));
    const outcome = taskOutcome('clone failed: out of space', upid, [
      { n: 0, t: 'no content' },
      ...log,
    ]);
    const error = failure(outcome) as TaskFailedError;
    expect(TaskFailedError.isInstance(error)).toBe(true);
    expect(error.taskId).toBe(upid);
    expect(error.backendMessage).toBe('clone failed: out of space');
    expect(error.details.log).toEqual(log.slice(-TASK_LOG_TAIL).map((line) => line.t));
  });

  it('the termproxy failure of a recorded vncproxy task is a TaskFailedError', () => {
    const recorded = taskFailed.interactions[1]?.response.body.data;
    const outcome = taskOutcome(recorded?.exitstatus ?? '', recorded?.upid ?? '');
    expect(TaskFailedError.isInstance(failure(outcome))).toBe(true);
    expect(AuthenticationError.isInstance(failure(outcome))).toBe(false);
    expect(InvalidSpecError.isInstance(failure(outcome))).toBe(false);
    expect(TimeoutError.isInstance(failure(outcome))).toBe(false);
  });
});
