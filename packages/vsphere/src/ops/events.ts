/**
 * Events from the EventManager (`QueryEvents`) as core `VmEvent`s, newest first.
 */
import type { ParsedInput, VmEvent } from '@hvkit/core';
import { readOne } from '../client/property-reader.js';
import type { CallOptions } from '../client/vim-client.js';
import type { DataObject } from '../soap/soap-envelope.js';
import type { VsphereContext } from '../vsphere-context.js';
import { fieldsOf, isoTimeOf, moRefOf, numberOf, textOf } from './values.js';

/** Events returned when the query names no limit. */
export const DEFAULT_EVENT_LIMIT = 100;

/**
 * The most events one call returns. vcsim refuses a larger `maxCount` (InvalidArgument) and keeps
 * only its last 1000 events. A larger core `limit` (up to 10 000) would need an
 * EventHistoryCollector read with ReadPreviousEvents, which this module does not do: it caps.
 */
export const MAX_EVENTS_PER_QUERY = 1000;

/**
 * Core's event type for a vSphere event: the class name (or an `EventEx`/`ExtendedEvent`'s
 * `eventTypeId`, last dotted segment) without `Event`, in kebab case — `VmPoweredOnEvent` →
 * `vm-powered-on`, `HostConnectedEvent` → `host-connected`. An event about a VM always starts
 * with `vm-` (core's convention): `TaskEvent` on a VM → `vm-task`.
 */
export function eventTypeOf(event: Record<string, unknown>): string {
  const $type = textOf(event.$type) ?? 'Event';
  const typeId = textOf(event.eventTypeId);
  const base =
    ($type === 'EventEx' || $type === 'ExtendedEvent') && typeId !== undefined
      ? (typeId.split('.').pop() ?? typeId)
      : $type;
  const words = base
    .replace(/Event$/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1-$2')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .toLowerCase();
  const type = words === '' ? 'event' : words;
  const aboutVm = moRefOf(fieldsOf(event.vm)?.vm) !== undefined;
  return aboutVm && !type.startsWith('vm-') && type !== 'vm' ? `vm-${type}` : type;
}

/**
 * Maps one parsed vSphere `Event` to core's `VmEvent`: id = `key`, time = `createdTime` (ISO),
 * message = `fullFormattedMessage` (the type when empty), vm = the event's VM argument.
 * Returns undefined for a value that is not an event (no key or time). Pure.
 */
export function toVmEvent(value: unknown, provider: string): VmEvent | undefined {
  const event = fieldsOf(value);
  const key = numberOf(event?.key) ?? textOf(event?.key);
  const time = isoTimeOf(event?.createdTime);
  if (event === undefined || key === undefined || time === undefined) return undefined;
  const type = eventTypeOf(event);
  const vm = moRefOf(fieldsOf(event.vm)?.vm);
  return {
    id: String(key),
    time,
    type,
    ...(vm === undefined ? {} : { vm: { provider, id: vm.value } }),
    message: textOf(event.fullFormattedMessage) ?? type,
  };
}

/**
 * Events newest first (by time, then key), at most `limit` (default 100, capped at 1000 — see
 * {@link MAX_EVENTS_PER_QUERY}), from `since` on (inclusive), of one VM when `query.vm` is given
 * (events whose VM argument is it: recursion `self`) or of the whole inventory. The time filter is
 * sent and applied again here, because vcsim 0.24 ignores it.
 *
 * @throws NotFoundError('vm') when `query.vm` does not exist; ProviderApiError for faults.
 */
export async function listEvents(
  ctx: VsphereContext,
  query: ParsedInput['eventQuery'],
  options: CallOptions = {},
): Promise<VmEvent[]> {
  const content = await ctx.client.serviceContent(options);
  const limit = Math.min(query.limit ?? DEFAULT_EVENT_LIMIT, MAX_EVENTS_PER_QUERY);
  const vm = query.vm === undefined ? undefined : { type: 'VirtualMachine', value: query.vm.id };
  const filter: DataObject = {
    $type: 'EventFilterSpec',
    ...(vm === undefined
      ? {}
      : { entity: { $type: 'EventFilterSpecByEntity', entity: vm, recursion: 'self' } }),
    ...(query.since === undefined
      ? {}
      : {
          time: { $type: 'EventFilterSpecByTime', beginTime: new Date(query.since).toISOString() },
        }),
    maxCount: limit,
  };
  if (!content.eventManager) return [];
  const [answer] = await Promise.all([
    ctx.client.call(
      'QueryEvents',
      content.eventManager,
      [['filter', filter, 'EventFilterSpec']],
      options,
    ),
    // vCenter and vcsim answer an unknown entity with no events; core wants NotFoundError.
    vm === undefined ? undefined : readOne(ctx.client, vm, ['name'], options),
  ]);
  const since = query.since === undefined ? undefined : Date.parse(query.since);
  const events: { event: VmEvent; key: number }[] = [];
  for (const value of answer) {
    const event = toVmEvent(value, ctx.name);
    if (event === undefined) continue;
    if (since !== undefined && Date.parse(event.time) < since) continue;
    // With recursion `self` every event names the VM; keep the ref even if one does not say so.
    if (query.vm !== undefined && event.vm === undefined)
      event.vm = { provider: ctx.name, id: query.vm.id };
    events.push({ event, key: Number(event.id) });
  }
  return events
    .sort(
      (a, b) =>
        Date.parse(b.event.time) - Date.parse(a.event.time) ||
        (Number.isNaN(b.key) || Number.isNaN(a.key) ? 0 : b.key - a.key),
    )
    .slice(0, limit)
    .map((item) => item.event);
}
