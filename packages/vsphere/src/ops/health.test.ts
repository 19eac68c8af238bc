import { describe, expect, it } from 'vitest';
import type { ObjectContent } from '../soap/soap-parser.js';
import { toHealthReport } from './health.js';

const AT = '2026-11-21T12:00:00.000Z';

function content(properties: Record<string, unknown>): ObjectContent {
  return { obj: { type: 'VirtualMachine', value: 'vm-1' }, properties, missing: [] };
}

describe('toHealthReport', () => {
  it('a connected green VM without alarms is ok, with one check per source', () => {
    const report = toHealthReport(
      content({
        overallStatus: 'green',
        'runtime.connectionState': 'connected',
        'runtime.powerState': 'poweredOff',
      }),
      AT,
    );
    expect(report).toEqual({
      status: 'ok',
      checkedAt: AT,
      checks: [
        { name: 'overall-status', status: 'ok', message: expect.stringContaining('green') },
        { name: 'connection', status: 'ok', message: 'the VM is connected to vCenter' },
        { name: 'alarms', status: 'ok', message: 'no alarm triggered' },
      ],
    });
  });

  it('the worst check decides: a red alarm on a running VM is critical', () => {
    const report = toHealthReport(
      content({
        overallStatus: 'yellow',
        'runtime.connectionState': 'connected',
        'runtime.powerState': 'poweredOn',
        guestHeartbeatStatus: 'green',
        triggeredAlarmState: [{ $type: 'AlarmState', overallStatus: 'red' }],
      }),
      AT,
    );
    expect(report.status).toBe('critical');
    expect(report.checks.map((check) => [check.name, check.status])).toEqual([
      ['overall-status', 'warning'],
      ['connection', 'ok'],
      ['guest-heartbeat', 'ok'],
      ['alarms', 'critical'],
    ]);
  });

  it('a disconnected VM is critical; gray colours are unknown', () => {
    const report = toHealthReport(
      content({
        overallStatus: 'gray',
        'runtime.connectionState': 'disconnected',
        'runtime.powerState': 'poweredOn',
        guestHeartbeatStatus: 'gray',
      }),
      AT,
    );
    expect(report.status).toBe('critical');
    expect(report.checks.find((check) => check.name === 'guest-heartbeat')?.status).toBe('unknown');
    expect(report.checks.find((check) => check.name === 'overall-status')?.status).toBe('unknown');
  });
});
