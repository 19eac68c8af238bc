/**
 * Waiting for a vSphere task inside an operation that needs its outcome before it can answer
 * (create a rule, then read it back; create, then power on). The driver's task observation is for
 * tasks handed to the caller; this is the one wait for the steps an operation finishes itself.
 */
import { NotFoundError, ProviderApiError } from '@hvkit/core';
import { fieldsOf, moRefOf } from '../ops/values.js';
import type { ManagedObjectReference } from '../soap/soap-envelope.js';
import { type LocalizedMethodFault, localizedFaultToError } from '../soap/soap-faults.js';
import type { VsphereContext } from '../vsphere-context.js';
import { watchProperties } from './property-reader.js';
import type { CallOptions } from './vim-client.js';

/**
 * Waits for `task` to finish, pushed by `WaitForUpdatesEx` on `info` (no polling loop; vcsim's
 * tasks are already finished when the call that started them returns). Resolves with
 * `info.result` (a moref for tasks that make something, else undefined).
 *
 * @throws the core error of the task's fault (the same mapping as a SOAP fault: NotFoundError,
 *   ConflictError, ProviderApiError…); ProviderApiError when the task vanished before finishing;
 *   the abort reason when `options.signal` aborts (the task itself keeps running).
 */
export async function waitForTask(
  ctx: VsphereContext,
  task: ManagedObjectReference,
  options: CallOptions = {},
): Promise<unknown> {
  for await (const state of watchProperties(ctx.client, task, ['info'], options)) {
    if (state.$gone === true) {
      throw new NotFoundError(
        'task',
        task.value,
        `vSphere task ${task.value} disappeared before it finished`,
        ctx.client.faultContext,
      );
    }
    const info = fieldsOf(state.info);
    if (info?.state === 'success') return moRefOf(info.result) ?? info.result;
    if (info?.state === 'error') {
      throw localizedFaultToError((fieldsOf(info.error) ?? {}) as LocalizedMethodFault, {
        ...ctx.client.faultContext,
      });
    }
  }
  // watchProperties only ends when the consumer stops; reaching here means it was cut short.
  throw new ProviderApiError(`vSphere stopped reporting task ${task.value}`, {
    provider: ctx.name,
  });
}

/** The Task moref a `*_Task` method returned. @throws ProviderApiError when there is none. */
export function taskRefOf(
  value: unknown,
  method: string,
  provider: string,
): ManagedObjectReference {
  const ref = moRefOf(value);
  if (ref === undefined || ref.type !== 'Task') {
    throw new ProviderApiError(`vSphere ${method} returned no Task reference`, { provider });
  }
  return ref;
}
