/**
 * The Proxmox VE REST client: one method, {@link ProxmoxClient.request}, that encodes the
 * request, authenticates it, sends it over the client's own TLS dispatcher, validates the answer
 * and turns failures into core errors. It never re-sends a request that may have been applied.
 */
import {
  AuthenticationError,
  type Clock,
  causeChain,
  HvkitError,
  type HvkitErrorOptions,
  InvalidSpecError,
  type Logger,
  ProviderApiError,
  redactingLogger,
  silentLogger,
  systemClock,
  TransportError,
  transportErrorFrom,
  UNKNOWN_OUTCOME,
} from '@hvkit/core';
import { type Dispatcher, fetch } from 'undici';
import type { z } from 'zod';
import { type ProxmoxCredentials, validateCredentials } from './credentials.js';
import { encodeParams, expandPath, type RequestParams } from './request-encoding.js';
import { errorFromResponse } from './response-errors.js';
import { accessTicketSchema } from './response-schemas.js';
import { createProxmoxDispatcher, type ProxmoxTlsOptions } from './tls.js';

/** HTTP methods the Proxmox API uses. */
export type ProxmoxMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** Lifetime of a Proxmox ticket (`$ticket_lifetime` in PVE::AccessControl): 2 hours. */
export const TICKET_LIFETIME_MS = 2 * 60 * 60 * 1000;

/** Settings of a {@link ProxmoxClient}. */
export interface ProxmoxClientOptions {
  /** Host name or IP address of any cluster node (IPv6 with or without brackets). */
  host: string;
  /** API port. Default 8006. */
  port?: number | undefined;
  /** API token or user/password. */
  credentials: ProxmoxCredentials;
  /** TLS trust: verified against system CAs unless `ca`, `fingerprint256` or `insecure` say otherwise. */
  tls?: ProxmoxTlsOptions | undefined;
  /** An undici dispatcher to use instead of building one from `tls` (the caller closes it). */
  dispatcher?: Dispatcher | undefined;
  /** Time source for ticket age. Default the system clock. */
  clock?: Clock | undefined;
  /** Receives debug lines per request and the `insecure` warning, all redacted. Default silent. */
  logger?: Logger | undefined;
  /** Per-request time limit, headers and body, in ms. Default 60 000. */
  timeoutMs?: number | undefined;
  /** Connection setup limit in ms. Default 10 000. */
  connectTimeoutMs?: number | undefined;
  /**
   * Age at which a ticket is renewed (by posting it as the password) before it is used again.
   * Default 1 hour; must be below the 2-hour lifetime.
   */
  ticketRenewAfterMs?: number | undefined;
  /** Provider instance name carried by errors. Default `proxmox`. */
  provider?: string | undefined;
}

/** Per-request options. */
export interface ProxmoxRequestOptions<T> {
  /** Validates `data`; use the loose helpers for numbers Proxmox may send as strings. */
  schema?: z.ZodType<T> | undefined;
  /** Aborts the request; the abort reason is thrown. The server may still act on a write. */
  signal?: AbortSignal | undefined;
  /** Overrides the client's `timeoutMs`. */
  timeoutMs?: number | undefined;
}

/** The whole success envelope: `data` plus `total` for paged lists (task log, task list). */
export interface ProxmoxEnvelope<T> {
  data: T;
  total?: number | undefined;
}

interface Ticket {
  username: string;
  ticket: string;
  csrfToken: string;
  obtainedAt: number;
}

interface RawResponse {
  status: number;
  statusText: string;
  contentType: string;
  text: string;
}

class RequestTimeout extends Error {}

function isSafeMethod(method: ProxmoxMethod): boolean {
  return method === 'GET';
}

/**
 * A typed client for one Proxmox VE cluster. Create one per set of credentials; call
 * {@link ProxmoxClient.close} when done.
 *
 * Authentication: an API token is sent on every request. With a password the client logs in on
 * first use, sends the ticket as the `PVEAuthCookie` cookie and the CSRF token on every write,
 * renews the ticket once it is older than `ticketRenewAfterMs`, and on a 401 logs in again
 * once and repeats the request once — safe for every method, because Proxmox answers 401 from
 * its auth handler before any API handler runs.
 *
 * Failures: every error is a core error (see `response-errors.ts` for the table). A timeout, a
 * dropped connection or a proxy failure (HTTP 595–599) on a request other than GET is never
 * re-sent and is reported with `retryable: false` and a message saying it may have been applied.
 */
export class ProxmoxClient {
  readonly #baseUrl: string;
  readonly #credentials: ProxmoxCredentials;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  readonly #renewAfterMs: number;
  readonly #provider: string;
  /** Every secret this client has seen; errors and logs redact them. */
  readonly #secrets: string[] = [];
  #ticket: Ticket | undefined;
  #loginInFlight: Promise<Ticket> | undefined;

  /**
   * @throws InvalidSpecError for malformed credentials, host, port, timeouts or TLS options.
   */
  constructor(options: ProxmoxClientOptions) {
    validateCredentials(options.credentials);
    this.#credentials = options.credentials;
    if (options.credentials.type === 'token') this.#addSecret(options.credentials.secret);
    else this.#addSecret(options.credentials.password);

    const port = options.port ?? 8006;
    const host =
      options.host.includes(':') && !options.host.startsWith('[')
        ? `[${options.host}]`
        : options.host;
    let url: URL;
    try {
      url = new URL(`https://${host}:${port}/api2/json`);
    } catch {
      url = new URL('invalid://');
    }
    const portValid = Number.isInteger(port) && port > 0 && port < 65536;
    if (
      url.protocol !== 'https:' ||
      url.hostname === '' ||
      url.pathname !== '/api2/json' ||
      /[/?#@\s]/.test(options.host) ||
      !portValid
    ) {
      throw new InvalidSpecError(
        [
          {
            path: 'host',
            message: 'expected a host name or IP address and a port',
            code: 'invalid_host',
          },
        ],
        { subject: 'Proxmox client options' },
      );
    }
    this.#baseUrl = url.href;
    this.#clock = options.clock ?? systemClock;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    if (!(this.#timeoutMs > 0)) {
      throw new InvalidSpecError(
        [{ path: 'timeoutMs', message: 'must be a positive number of ms', code: 'too_small' }],
        { subject: 'Proxmox client options' },
      );
    }
    this.#renewAfterMs = options.ticketRenewAfterMs ?? 60 * 60 * 1000;
    if (!(this.#renewAfterMs > 0 && this.#renewAfterMs < TICKET_LIFETIME_MS)) {
      throw new InvalidSpecError(
        [
          {
            path: 'ticketRenewAfterMs',
            message: 'must be between 0 and 2 hours (exclusive)',
            code: 'too_big',
          },
        ],
        { subject: 'Proxmox client options' },
      );
    }
    this.#provider = options.provider ?? 'proxmox';
    // A live view of the secret list: secrets learnt later (tickets) are redacted too.
    const secrets = this.#secrets;
    this.#logger = redactingLogger(options.logger ?? silentLogger, {
      get secrets() {
        return secrets;
      },
    });
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher =
      options.dispatcher ??
      createProxmoxDispatcher({
        ...options.tls,
        connectTimeoutMs: options.connectTimeoutMs,
        logger: this.#logger,
      });
  }

  /** `https://host:port/api2/json` — every request path is appended to it. */
  get baseUrl(): string {
    return this.#baseUrl;
  }

  /** The undici dispatcher (with this client's TLS trust), for calls the client does not wrap. */
  get dispatcher(): Dispatcher {
    return this.#dispatcher;
  }

  /**
   * The authentication headers a request with `method` needs now: the token header, or the
   * ticket cookie (logging in or renewing first) plus the CSRF token for writes. For endpoints the
   * client does not wrap, such as the VNC websocket or a multipart storage upload. The values are
   * secrets: never log them.
   *
   * @throws AuthenticationError when a login is needed and refused.
   */
  async authHeaders(method: ProxmoxMethod, signal?: AbortSignal): Promise<Record<string, string>> {
    return (await this.#authHeaders(method, signal)).headers;
  }

  /** Options every error this client raises carries: provider name and secrets to scrub. */
  get #errorOptions(): HvkitErrorOptions {
    return { provider: this.#provider, redact: { secrets: this.#secrets } };
  }

  /**
   * Calls one API endpoint and returns its `data`, validated by `options.schema` when given.
   *
   * `path` is below `/api2/json` and may hold `{name}` placeholders (as in the official schema),
   * filled from `params` through `encodePathSegment`; the other parameters go into the query
   * string (GET, DELETE) or a form body (POST, PUT), booleans as `0`/`1`, arrays as repeated keys.
   *
   * @throws InvalidSpecError for a parameter that cannot be encoded (nothing is sent).
   * @throws AuthenticationError when credentials are refused (after one re-login for tickets).
   * @throws NotFoundError, ConflictError, ProviderApiError for error answers (see `response-errors.ts`).
   * @throws TransportError for TLS, connection and proxy failures and timeouts.
   */
  async request<T = unknown>(
    method: ProxmoxMethod,
    path: string,
    params: RequestParams = {},
    options: ProxmoxRequestOptions<T> = {},
  ): Promise<T> {
    return (await this.requestEnvelope(method, path, params, options)).data;
  }

  /** Like {@link ProxmoxClient.request} but also returns `total` (task log and task list pages). */
  async requestEnvelope<T = unknown>(
    method: ProxmoxMethod,
    path: string,
    params: RequestParams = {},
    options: ProxmoxRequestOptions<T> = {},
  ): Promise<ProxmoxEnvelope<T>> {
    const { path: encodedPath, rest } = expandPath(path, params);
    const encoded = encodeParams(rest);
    let authRetried = false;
    for (;;) {
      const auth = await this.#authHeaders(method, options.signal);
      const response = await this.#send(method, encodedPath, encoded, auth.headers, options);
      if (response.status === 401 && auth.ticket !== undefined && !authRetried) {
        // Refused by the auth handler before any API handler ran: log in again, repeat once.
        authRetried = true;
        this.#logger.debug('proxmox: 401, logging in again', {
          method,
          path: encodedPath,
          reason: response.statusText,
        });
        await this.#login(auth.ticket, options.signal, true);
        continue;
      }
      return this.#readEnvelope(method, encodedPath, response, options.schema);
    }
  }

  /**
   * Logs in now (password credentials) instead of on the first request; a no-op for tokens.
   *
   * @throws AuthenticationError when the credentials are refused or need a second factor.
   */
  async login(signal?: AbortSignal): Promise<void> {
    if (this.#credentials.type === 'token') return;
    await this.#login(this.#ticket?.ticket, signal);
  }

  /** Closes the connections of the dispatcher this client built (not one passed in). */
  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  #addSecret(value: string): void {
    if (!this.#secrets.includes(value)) this.#secrets.push(value);
    // Keep the credentials and the last tickets; old tickets are worthless after 2 hours.
    while (this.#secrets.length > 12) this.#secrets.splice(1, 1);
  }

  async #authHeaders(
    method: ProxmoxMethod,
    signal: AbortSignal | undefined,
  ): Promise<{ headers: Record<string, string>; ticket?: string }> {
    const credentials = this.#credentials;
    if (credentials.type === 'token') {
      return {
        headers: { authorization: `PVEAPIToken=${credentials.tokenId}=${credentials.secret}` },
      };
    }
    const ticket = await this.#currentTicket(signal);
    const headers: Record<string, string> = { cookie: `PVEAuthCookie=${ticket.ticket}` };
    if (method !== 'GET') headers.csrfpreventiontoken = ticket.csrfToken;
    return { headers, ticket: ticket.ticket };
  }

  async #currentTicket(signal: AbortSignal | undefined): Promise<Ticket> {
    const ticket = this.#ticket;
    if (ticket && this.#clock.now() - ticket.obtainedAt < this.#renewAfterMs) return ticket;
    return this.#login(ticket?.ticket, signal);
  }

  /**
   * Gets a fresh ticket, once for all concurrent callers. `stale` is the ticket the caller saw:
   * if another caller replaced it meanwhile, that newer ticket is used. A ticket still inside
   * its lifetime is renewed by posting it as the password; otherwise (or if the server just
   * `refused` it, or renewal is refused) the password is used.
   */
  #login(
    stale: string | undefined,
    signal: AbortSignal | undefined,
    refused = false,
  ): Promise<Ticket> {
    const current = this.#ticket;
    if (current && current.ticket !== stale) return Promise.resolve(current);
    if (this.#loginInFlight) return this.#loginInFlight;
    const attempt = (async () => {
      try {
        const credentials = this.#credentials as { username: string; password: string };
        const renewable =
          current !== undefined &&
          !refused &&
          this.#clock.now() - current.obtainedAt < TICKET_LIFETIME_MS - 60_000;
        if (current && renewable) {
          try {
            return await this.#postTicket(current.username, current.ticket, signal, 'renew');
          } catch (error) {
            if (!AuthenticationError.isInstance(error)) throw error;
            this.#logger.debug('proxmox: ticket renewal refused, logging in with the password');
          }
        }
        return await this.#postTicket(credentials.username, credentials.password, signal, 'login');
      } finally {
        this.#loginInFlight = undefined;
      }
    })();
    this.#loginInFlight = attempt;
    return attempt;
  }

  async #postTicket(
    username: string,
    password: string,
    signal: AbortSignal | undefined,
    purpose: 'login' | 'renew',
  ): Promise<Ticket> {
    const response = await this.#send(
      'POST',
      '/access/ticket',
      encodeParams({ username, password }),
      {},
      { signal },
      // A ticket request changes nothing on the server: safe to treat like a read.
      true,
    );
    if (response.status === 401) {
      throw new AuthenticationError(
        `Proxmox ${purpose === 'renew' ? 'ticket renewal' : 'login'} as ${username} refused: ${response.statusText || 'authentication failure'}`,
        this.#errorOptions,
      );
    }
    const data = this.#readEnvelope('POST', '/access/ticket', response, accessTicketSchema).data;
    if (data.NeedTFA === true) {
      throw new AuthenticationError(
        `Proxmox login as ${username} needs a second factor; use an API token for automation`,
        this.#errorOptions,
      );
    }
    this.#addSecret(data.ticket);
    this.#addSecret(data.CSRFPreventionToken);
    const ticket: Ticket = {
      username: data.username,
      ticket: data.ticket,
      csrfToken: data.CSRFPreventionToken,
      obtainedAt: this.#clock.now(),
    };
    this.#ticket = ticket;
    this.#logger.debug(`proxmox: ticket ${purpose === 'renew' ? 'renewed' : 'obtained'}`, {
      username: data.username,
    });
    return ticket;
  }

  /** Sends one request and reads the whole answer. Never retries. */
  async #send(
    method: ProxmoxMethod,
    path: string,
    encodedParams: string,
    authHeaders: Record<string, string>,
    options: { signal?: AbortSignal | undefined; timeoutMs?: number | undefined },
    safe = isSafeMethod(method),
  ): Promise<RawResponse> {
    const hasBody = method === 'POST' || method === 'PUT';
    const url = `${this.#baseUrl}${path}${!hasBody && encodedParams !== '' ? `?${encodedParams}` : ''}`;
    const headers: Record<string, string> = { accept: 'application/json', ...authHeaders };
    if (hasBody) headers['content-type'] = 'application/x-www-form-urlencoded';

    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const controller = new AbortController();
    const userSignal = options.signal;
    const onAbort = () => controller.abort(userSignal?.reason);
    if (userSignal?.aborted) throw userSignal.reason;
    userSignal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => controller.abort(new RequestTimeout()), timeoutMs);
    const started = Date.now();
    try {
      const response = await fetch(url, {
        method,
        headers,
        ...(hasBody ? { body: encodedParams } : {}),
        signal: controller.signal,
        dispatcher: this.#dispatcher,
      });
      const text = await response.text();
      this.#logger.debug('proxmox: request', {
        method,
        path,
        status: response.status,
        durationMs: Date.now() - started,
      });
      const result: RawResponse = {
        status: response.status,
        statusText: response.statusText,
        contentType: response.headers.get('content-type') ?? '',
        text,
      };
      if (result.status >= 595 && result.status <= 599) {
        throw this.#proxyFailure(method, path, result, safe);
      }
      return result;
    } catch (error) {
      if (HvkitError.isInstance(error)) throw error;
      if (userSignal?.aborted) throw userSignal.reason;
      throw this.#transportFailure(method, path, error, safe, timeoutMs);
    } finally {
      clearTimeout(timer);
      userSignal?.removeEventListener('abort', onAbort);
    }
  }

  /** 595–599 are pveproxy's socket errors while forwarding to pvedaemon or another node. */
  #proxyFailure(
    method: ProxmoxMethod,
    path: string,
    response: RawResponse,
    safe: boolean,
  ): HvkitError {
    const reason = response.statusText || response.text.trim() || 'proxy error';
    // AnyEvent::HTTP: 595 = could not connect, so the forwarded request was never made.
    const notSent = response.status === 595;
    const outcome = safe || notSent ? '' : `; ${UNKNOWN_OUTCOME}`;
    return new TransportError(
      `Proxmox ${method} ${path}: the API proxy failed to forward it (HTTP ${response.status} ${reason})${outcome}`,
      {
        ...this.#errorOptions,
        retryable: safe || notSent,
        details: {
          method,
          path,
          status: response.status,
          outcome: safe ? 'not-applied' : notSent ? 'not-applied' : 'unknown',
        },
      },
    );
  }

  /**
   * Classifies a failed `fetch` with core's rules (not sent / TLS / unknown outcome), in
   * Proxmox's words. Only our own deadline counts as a timeout: a caller's abort was rethrown
   * before this is reached.
   */
  #transportFailure(
    method: ProxmoxMethod,
    path: string,
    error: unknown,
    safe: boolean,
    timeoutMs: number,
  ): HvkitError {
    const timedOut = causeChain(error).some((item) => item instanceof RequestTimeout);
    return transportErrorFrom(error, {
      ...this.#errorOptions,
      where: `Proxmox ${method} ${path}`,
      safe,
      timeoutMs: timedOut ? timeoutMs : undefined,
      tlsHint: "pass tls.ca (the cluster's pve-root-ca.pem) or tls.fingerprint256",
      details: { method, path },
    });
  }

  #readEnvelope<S extends z.ZodType>(
    method: ProxmoxMethod,
    path: string,
    response: RawResponse,
    schema: S | undefined,
  ): ProxmoxEnvelope<z.output<S>> {
    let body: unknown;
    if (response.text !== '' && /json/i.test(response.contentType)) {
      try {
        body = JSON.parse(response.text);
      } catch {
        body = undefined;
      }
    }
    const envelope = (typeof body === 'object' && body !== null ? body : {}) as Record<
      string,
      unknown
    >;
    if (response.status < 200 || response.status >= 300) {
      const bodyMessage = typeof envelope.message === 'string' ? envelope.message.trim() : '';
      const plain = body === undefined ? (response.text.trim().split('\n')[0] ?? '') : '';
      const errors =
        typeof envelope.errors === 'object' && envelope.errors !== null
          ? (envelope.errors as Record<string, string>)
          : undefined;
      throw errorFromResponse({
        method,
        path,
        status: response.status,
        message: bodyMessage || response.statusText || plain || `HTTP ${response.status}`,
        errors,
        options: this.#errorOptions,
      });
    }
    if (!('data' in envelope)) {
      throw new ProviderApiError(
        `Proxmox ${method} ${path}: answer is not a {"data": …} JSON envelope (HTTP ${response.status}, ${response.contentType || 'no content type'})`,
        {
          ...this.#errorOptions,
          status: response.status,
          retryable: false,
          details: { method, path },
        },
      );
    }
    const total = typeof envelope.total === 'number' ? envelope.total : Number(envelope.total);
    if (!schema) {
      return {
        data: envelope.data as z.output<S>,
        total: Number.isFinite(total) ? total : undefined,
      };
    }
    const parsed = schema.safeParse(envelope.data);
    if (!parsed.success) {
      throw new ProviderApiError(
        `Proxmox ${method} ${path}: unexpected answer: ${parsed.error.issues
          .slice(0, 3)
          .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
          .join('; ')}`,
        {
          ...this.#errorOptions,
          status: response.status,
          fault: 'unexpected-response',
          retryable: false,
          details: { method, path, issues: parsed.error.issues.slice(0, 10) },
        },
      );
    }
    return { data: parsed.data, total: Number.isFinite(total) ? total : undefined };
  }
}
