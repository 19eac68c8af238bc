/**
 * A VM's health as vCenter sees it: its overall status (the alarm roll-up), connection state,
 * guest heartbeat and the alarms triggered on it — one property collector read.
 */
import type { HealthReport, HealthStatus } from '@hvkit/core';
import { readOne } from '../client/property-reader.js';
import type { CallOptions } from '../client/vim-client.js';
import type { ObjectContent } from '../soap/soap-parser.js';
import type { VsphereContext } from '../vsphere-context.js';
import { listOf, textOf } from './values.js';

/** The properties {@link checkHealth} reads. */
export const HEALTH_PROPERTIES = [
  'name',
  'overallStatus',
  'runtime.connectionState',
  'runtime.powerState',
  'guestHeartbeatStatus',
  'triggeredAlarmState',
] as const;

/** vSphere's ManagedEntityStatus colours as core statuses. */
const COLOURS: Readonly<Record<string, HealthStatus>> = {
  green: 'ok',
  yellow: 'warning',
  red: 'critical',
  gray: 'unknown',
};

const RANK: Readonly<Record<HealthStatus, number>> = { ok: 0, unknown: 1, warning: 2, critical: 3 };

function colour(value: unknown): HealthStatus {
  const text = textOf(value);
  return (
    (text !== undefined && Object.hasOwn(COLOURS, text) ? COLOURS[text] : undefined) ?? 'unknown'
  );
}

/** Builds the report from the read properties; `checkedAt` is ISO 8601. */
export function toHealthReport(content: ObjectContent, checkedAt: string): HealthReport {
  const props = content.properties;
  const checks: HealthReport['checks'] = [];
  const overall = colour(props.overallStatus);
  checks.push({
    name: 'overall-status',
    status: overall,
    message: `vCenter rolls the VM's alarms up to ${textOf(props.overallStatus) ?? 'no status'}`,
  });
  const connection = textOf(props['runtime.connectionState']) ?? 'unknown';
  checks.push({
    name: 'connection',
    status: connection === 'connected' ? 'ok' : connection === 'unknown' ? 'unknown' : 'critical',
    message: `the VM is ${connection} to vCenter`,
  });
  if (props['runtime.powerState'] === 'poweredOn') {
    // Gray means no VMware Tools report, which is not a fault of the VM itself.
    const heartbeat = colour(props.guestHeartbeatStatus);
    checks.push({
      name: 'guest-heartbeat',
      status: heartbeat,
      message:
        heartbeat === 'unknown'
          ? 'no guest heartbeat (VMware Tools not running)'
          : `guest heartbeat is ${textOf(props.guestHeartbeatStatus)}`,
    });
  }
  const alarms = listOf(props.triggeredAlarmState);
  const worst = alarms.reduce<HealthStatus>((current, alarm) => {
    const status = colour((alarm as { overallStatus?: unknown } | undefined)?.overallStatus);
    return RANK[status] > RANK[current] ? status : current;
  }, 'ok');
  checks.push({
    name: 'alarms',
    status: worst,
    message: alarms.length === 0 ? 'no alarm triggered' : `${alarms.length} alarm(s) triggered`,
  });
  const status = checks.reduce<HealthStatus>(
    (current, check) => (RANK[check.status] > RANK[current] ? check.status : current),
    'ok',
  );
  return { status, checkedAt, checks };
}

/**
 * The health of VM `vmId`.
 *
 * @throws NotFoundError('vm') when the VM does not exist.
 */
export async function checkHealth(
  ctx: VsphereContext,
  vmId: string,
  options: CallOptions = {},
): Promise<HealthReport> {
  const content = await readOne(
    ctx.client,
    { type: 'VirtualMachine', value: vmId },
    HEALTH_PROPERTIES,
    options,
  );
  return toHealthReport(content, new Date(ctx.clock.now()).toISOString());
}
