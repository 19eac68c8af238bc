/**
 * A VM's browser console: a WebMKS ticket from `AcquireTicket(ticketType: 'webmks')` as core
 * `ConsoleAccess`.
 *
 * VMware's WebMKS clients connect to `wss://<host>:<port>/ticket/<ticket>` (the ESXi host running
 * the VM). Core's contract keeps the ticket, a secret, out of every URL (URLs get logged), so
 * `websocketUrl` and `url` end in `/ticket/` and the caller appends
 * `encodeURIComponent(access.ticket)` when it opens the websocket. The ticket is single-use;
 * vSphere does not say when it expires, so `expiresAt` is left out. The host's certificate
 * thumbprint (`sslThumbprint`) has no place in `ConsoleAccess` and is not returned.
 *
 * vcsim 0.24 does not implement AcquireTicket (MethodNotFound): this path is proven on recorded
 * and hand-written (synthetic, vCenter-shaped) responses only.
 */
import { ConflictError, type ConsoleAccess, ProviderApiError } from '@hvkit/core';
import { readOne } from '../client/property-reader.js';
import type { CallOptions } from '../client/vim-client.js';
import type { VsphereContext } from '../vsphere-context.js';
import { fieldsOf, numberOf, textOf } from './values.js';

/** The HTTPS port ESXi serves WebMKS on when the ticket names none. */
export const DEFAULT_WEBMKS_PORT = 443;

function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * Maps a `VirtualMachineTicket` to `ConsoleAccess` (protocol `webmks`). The host and port are the
 * ticket's, else those of its `url`, else `endpoint`'s host and 443.
 *
 * @throws ProviderApiError when the answer carries no ticket (the message never holds it).
 */
export function toConsoleAccess(ticket: unknown, endpoint: URL, provider: string): ConsoleAccess {
  const fields = fieldsOf(ticket);
  const secret = textOf(fields?.ticket);
  if (secret === undefined) {
    throw new ProviderApiError('vSphere AcquireTicket returned no ticket', { provider });
  }
  let fromUrl: URL | undefined;
  try {
    const raw = textOf(fields?.url);
    fromUrl = raw === undefined ? undefined : new URL(raw);
  } catch {
    fromUrl = undefined;
  }
  const host = textOf(fields?.host) ?? fromUrl?.hostname ?? endpoint.hostname;
  const port =
    numberOf(fields?.port) ??
    (fromUrl?.port === undefined || fromUrl.port === '' ? undefined : Number(fromUrl.port)) ??
    DEFAULT_WEBMKS_PORT;
  const websocketUrl = `wss://${hostForUrl(host)}:${port}/ticket/`;
  return {
    protocol: 'webmks',
    url: websocketUrl,
    websocketUrl,
    ticket: secret,
  };
}

/**
 * A WebMKS console ticket for running VM `vmId` (see the module comment for how to use it).
 * The returned `ticket` is a secret: the caller must keep it out of logs (the driver adds it to
 * its redaction list).
 *
 * @throws NotFoundError('vm') when the VM does not exist; ConflictError('invalid-power-state')
 *   when it is not powered on (checked before asking for a ticket); ProviderApiError for faults
 *   (MethodNotFound on vcsim, which has no AcquireTicket).
 */
export async function getConsole(
  ctx: VsphereContext,
  vmId: string,
  options: CallOptions = {},
): Promise<ConsoleAccess> {
  const vm = { type: 'VirtualMachine', value: vmId };
  const state = (await readOne(ctx.client, vm, ['runtime.powerState'], options)).properties[
    'runtime.powerState'
  ];
  if (state !== 'poweredOn') {
    throw new ConflictError(
      'invalid-power-state',
      `VM ${vmId} is ${typeof state === 'string' ? state : 'not running'}: a console needs it powered on`,
      { provider: ctx.name },
    );
  }
  let ticket: unknown;
  try {
    ticket = await ctx.client.callOne(
      'AcquireTicket',
      vm,
      [['ticketType', 'webmks', 'string']],
      options,
    );
  } catch (error) {
    if (!(ProviderApiError.isInstance(error) && NO_WEBMKS_TICKET.has(error.fault ?? '')))
      throw error;
    return webConsole(ctx, vmId, options);
  }
  return toConsoleAccess(ticket, ctx.client.url, ctx.name);
}

/** Faults of a server that cannot hand out WebMKS tickets (vcsim; ESXi without a session). */
const NO_WEBMKS_TICKET = new Set(['MethodNotFound', 'NotImplemented', 'NotSupported']);

/**
 * The vSphere Client's own browser console for `vmId`: `https://<vcenter>/ui/webconsole.html`
 * with the VM, its name and the vCenter's instance UUID, authenticated by a clone-session ticket
 * (`SessionManager.AcquireCloneTicket`). As with every console here, the ticket stays out of the
 * URL: open `url + '&sessionTicket=' + encodeURIComponent(ticket)`. The page speaks WebMKS to
 * the host itself, so there is no `websocketUrl`. Used when `AcquireTicket('webmks')` is not
 * available (vcsim 0.24 has none; AcquireCloneTicket it has).
 */
export async function webConsole(
  ctx: VsphereContext,
  vmId: string,
  options: CallOptions = {},
): Promise<ConsoleAccess> {
  const content = await ctx.client.serviceContent(options);
  if (!content.sessionManager) {
    throw new ProviderApiError('vSphere has no SessionManager for a console ticket', {
      provider: ctx.name,
    });
  }
  const vm = { type: 'VirtualMachine', value: vmId };
  const [name, ticket] = await Promise.all([
    readOne(ctx.client, vm, ['name'], options).then((read) => textOf(read.properties.name)),
    ctx.client.callOne('AcquireCloneTicket', content.sessionManager, [], options),
  ]);
  const secret = textOf(ticket);
  if (secret === undefined) {
    throw new ProviderApiError('vSphere AcquireCloneTicket returned no ticket', {
      provider: ctx.name,
    });
  }
  const endpoint = ctx.client.url;
  const query = new URLSearchParams({
    vmId,
    vmName: name ?? vmId,
    serverGuid: content.about.instanceUuid ?? '',
    host: endpoint.host,
    locale: 'en_US',
  });
  return {
    protocol: 'webmks',
    url: `https://${endpoint.host}/ui/webconsole.html?${query.toString()}`,
    ticket: secret,
  };
}
