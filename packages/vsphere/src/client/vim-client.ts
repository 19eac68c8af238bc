/**
 * The vim25 SOAP client: one session per client, one undici dispatcher for TLS trust. It sends
 * envelopes built by `soap/soap-envelope.ts`, reads answers with the streaming parser, logs in on
 * first use, and logs in again — once — when vCenter answers `NotAuthenticated` (an idle session
 * expired, or vcsim restarted). A connection closed without an answer is a `TransportError`
 * saying whether the request was sent, never a hang.
 */
import {
  AuthenticationError,
  HvkitError,
  type Logger,
  ProviderApiError,
  type RedactOptions,
  silentLogger,
  TransportError,
  transportErrorFrom,
} from '@hvkit/core';
import type { Dispatcher } from 'undici';
import {
  buildEnvelope,
  type DataObject,
  type ManagedObjectReference,
  type SoapArgument,
} from '../soap/soap-envelope.js';
import { type FaultContext, soapFaultToError } from '../soap/soap-faults.js';
import {
  type ObjectContent,
  parseSoapResponse,
  type RetrieveResultStream,
  streamRetrieveResult,
} from '../soap/soap-parser.js';

/** `ServiceInstance`: the root every session starts from. */
export const SERVICE_INSTANCE: ManagedObjectReference = {
  type: 'ServiceInstance',
  value: 'ServiceInstance',
};

/** The parts of `ServiceContent` the provider uses. */
export interface ServiceContent {
  about: {
    fullName: string;
    apiVersion: string;
    apiType: string;
    version: string;
    build: string;
    instanceUuid?: string | undefined;
  };
  rootFolder: ManagedObjectReference;
  propertyCollector: ManagedObjectReference;
  viewManager?: ManagedObjectReference | undefined;
  sessionManager?: ManagedObjectReference | undefined;
  eventManager?: ManagedObjectReference | undefined;
  perfManager?: ManagedObjectReference | undefined;
  ovfManager?: ManagedObjectReference | undefined;
  fileManager?: ManagedObjectReference | undefined;
  virtualDiskManager?: ManagedObjectReference | undefined;
  taskManager?: ManagedObjectReference | undefined;
  customizationSpecManager?: ManagedObjectReference | undefined;
  searchIndex?: ManagedObjectReference | undefined;
}

/** Settings of one {@link VimClient}. */
export interface VimClientOptions {
  /** `https://host[:port]/sdk`. */
  url: string;
  username: string;
  /** Redacted from every error and log line. */
  password: string;
  /** Carries TLS trust; see `createVsphereDispatcher`. */
  dispatcher: Dispatcher;
  /** Provider instance name, carried by errors. */
  provider: string;
  logger?: Logger | undefined;
  redact?: RedactOptions | undefined;
  /** Per-request time limit in ms (long-polls add their own wait). Default 60 000. */
  timeoutMs?: number | undefined;
}

/** Options of one call. */
export interface CallOptions {
  signal?: AbortSignal | undefined;
  /** Time limit of this request in ms; default the client's. */
  timeoutMs?: number | undefined;
}

/**
 * Methods that change nothing on the server: a lost answer may be retried and lost nothing.
 * Everything else (every `*_Task`, Login, Reconfigure…) is treated as a mutation.
 */
const SAFE_METHODS = new Set([
  'RetrieveServiceContent',
  'RetrievePropertiesEx',
  'ContinueRetrievePropertiesEx',
  'CancelRetrievePropertiesEx',
  'RetrieveProperties',
  'WaitForUpdatesEx',
  'CancelWaitForUpdates',
  'CreateContainerView',
  'DestroyView',
  'CreatePropertyCollector',
  'DestroyPropertyCollector',
  'CreateFilter',
  'DestroyPropertyFilter',
  'FindByInventoryPath',
  'FindByUuid',
  'QueryPerf',
  'QueryAvailablePerfMetric',
  'QueryPerfProviderSummary',
  'QueryEvents',
  'SessionIsActive',
  'AcquireTicket',
  'Logout',
]);

const SESSION_COOKIE = /(?:^|[;,]\s*)vmware_soap_session=("[^"]*"|[^;,\s]*)/;

class RequestTimeout extends Error {}

/** True when every property of an object was refused with `NotAuthenticated` (expired session). */
function sessionExpired(content: ObjectContent): boolean {
  return (
    content.missing.length > 0 &&
    Object.keys(content.properties).length === 0 &&
    content.missing.every((entry) => {
      // missingSet holds a LocalizedMethodFault whose `fault` is the NotAuthenticated itself.
      const fault = entry.fault as { $type?: unknown; fault?: { $type?: unknown } } | undefined;
      return (fault?.fault?.$type ?? fault?.$type) === 'NotAuthenticated';
    })
  );
}

/** Reads the session cookie from `Set-Cookie`, keeping vCenter's quotes (vcsim sends none). */
export function sessionCookieOf(setCookie: readonly string[]): string | undefined {
  for (const header of setCookie) {
    const match = SESSION_COOKIE.exec(header);
    if (match?.[1]) return match[1];
  }
  return undefined;
}

function moRefOf(value: unknown): ManagedObjectReference | undefined {
  const record = value as { type?: unknown; value?: unknown } | undefined;
  return typeof record?.type === 'string' && typeof record.value === 'string'
    ? { type: record.type, value: record.value }
    : undefined;
}

function aboutOf(value: unknown): ServiceContent['about'] {
  const about = (value ?? {}) as Record<string, unknown>;
  const text = (key: string) => (typeof about[key] === 'string' ? (about[key] as string) : '');
  return {
    fullName: text('fullName'),
    apiVersion: text('apiVersion'),
    apiType: text('apiType'),
    version: text('version'),
    build: text('build'),
    ...(text('instanceUuid') === '' ? {} : { instanceUuid: text('instanceUuid') }),
  };
}

/** Builds the typed view of `RetrieveServiceContent`'s answer. */
export function toServiceContent(value: unknown): ServiceContent {
  const content = (value ?? {}) as Record<string, unknown>;
  const required = (key: string) => {
    const ref = moRefOf(content[key]);
    if (!ref) throw new ProviderApiError(`vSphere ServiceContent has no ${key}`, {});
    return ref;
  };
  return {
    about: aboutOf(content.about),
    rootFolder: required('rootFolder'),
    propertyCollector: required('propertyCollector'),
    viewManager: moRefOf(content.viewManager),
    sessionManager: moRefOf(content.sessionManager),
    eventManager: moRefOf(content.eventManager),
    perfManager: moRefOf(content.perfManager),
    ovfManager: moRefOf(content.ovfManager),
    fileManager: moRefOf(content.fileManager),
    virtualDiskManager: moRefOf(content.virtualDiskManager),
    taskManager: moRefOf(content.taskManager),
    customizationSpecManager: moRefOf(content.customizationSpecManager),
    searchIndex: moRefOf(content.searchIndex),
  };
}

interface RawAnswer {
  status: number;
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** The session cookie the request carried. */
  cookie: string | undefined;
  /** The session cookie the answer set (Login). */
  setCookie: string | undefined;
}

/**
 * A vim25 client for one vCenter or ESXi endpoint. Create one per set of credentials and call
 * {@link VimClient.close} when done (it logs out and releases the connections).
 */
export class VimClient {
  readonly url: URL;
  readonly #options: VimClientOptions;
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  #serviceContent: Promise<ServiceContent> | undefined;
  #cookie: string | undefined;
  #login: Promise<string> | undefined;
  #closed = false;

  constructor(options: VimClientOptions) {
    this.url = new URL(options.url);
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** Errors raised by this client carry the provider name and scrub the password. */
  get faultContext(): FaultContext {
    return { provider: this.#options.provider, redact: this.#options.redact };
  }

  /** The dispatcher every request of this client goes through (SOAP, `/folder`, vAPI). */
  get dispatcher(): Dispatcher {
    return this.#options.dispatcher;
  }

  /** `RetrieveServiceContent`, asked once per client (needs no session). */
  serviceContent(options: CallOptions = {}): Promise<ServiceContent> {
    if (!this.#serviceContent) {
      const envelope = buildEnvelope('RetrieveServiceContent', SERVICE_INSTANCE);
      const pending = this.#send('RetrieveServiceContent', envelope, options, undefined)
        .then((answer) => this.#readAnswer('RetrieveServiceContent', answer))
        .then((returnval) => toServiceContent(returnval[0]));
      this.#serviceContent = pending;
      pending.catch(() => {
        if (this.#serviceContent === pending) this.#serviceContent = undefined;
      });
    }
    return this.#serviceContent;
  }

  /** The session cookie to send, logging in when there is none. */
  async session(options: CallOptions = {}): Promise<string> {
    if (this.#cookie !== undefined) return this.#cookie;
    return this.#relogin(undefined, options);
  }

  /**
   * Calls `method` on `target` and returns its `returnval` elements (empty for a void method).
   *
   * @throws the mapped core error for a SOAP fault (NotFoundError, ConflictError,
   *   AuthenticationError, ProviderApiError…); TransportError when the connection failed;
   *   InvalidSpecError when an argument cannot be serialised (before anything is sent).
   */
  async call(
    method: string,
    target: ManagedObjectReference,
    args: readonly SoapArgument[] = [],
    options: CallOptions = {},
  ): Promise<unknown[]> {
    const envelope = buildEnvelope(method, target, args);
    return this.#withSession(method, envelope, options, (answer) =>
      this.#readAnswer(method, answer),
    );
  }

  /** {@link VimClient.call} for methods that return one value (a moref, an object). */
  async callOne(
    method: string,
    target: ManagedObjectReference,
    args: readonly SoapArgument[] = [],
    options: CallOptions = {},
  ): Promise<unknown> {
    return (await this.call(method, target, args, options))[0];
  }

  /**
   * Streams the objects of `RetrievePropertiesEx` for `specSet`, following paging tokens with
   * `ContinueRetrievePropertiesEx`; breaking out early cancels the rest with
   * `CancelRetrievePropertiesEx`. Objects are yielded as their XML closes, so memory stays flat.
   *
   * @param maxObjects Page size asked of the server (vCenter honours it, vcsim ignores it).
   */
  async *retrieve(
    specSet: readonly DataObject[],
    options: CallOptions & { maxObjects?: number | undefined } = {},
  ): AsyncGenerator<ObjectContent> {
    const content = await this.serviceContent(options);
    const collector = content.propertyCollector;
    const retrieveOptions: DataObject = {
      $type: 'RetrieveOptions',
      ...(options.maxObjects === undefined ? {} : { maxObjects: options.maxObjects }),
    };
    let envelope = buildEnvelope('RetrievePropertiesEx', collector, [
      ['specSet', [...specSet], 'PropertyFilterSpec'],
      ['options', retrieveOptions, 'RetrieveOptions'],
    ]);
    let method = 'RetrievePropertiesEx';
    let token: string | undefined;
    let current: RetrieveResultStream | undefined;
    let finished = false;
    try {
      for (;;) {
        const page = await this.#openPage(method, envelope, options);
        current = page.stream;
        if (page.first !== undefined) yield page.first;
        for (let next = await page.rest.next(); !next.done; next = await page.rest.next()) {
          yield next.value;
        }
        token = current.token;
        current = undefined;
        if (token === undefined) break;
        method = 'ContinueRetrievePropertiesEx';
        envelope = buildEnvelope(method, collector, [['token', token, 'string']]);
      }
      finished = true;
    } finally {
      // Only a page being read can leave a result open on the server: its own token, known as
      // soon as it arrived (vCenter sends it before the objects); none on the last page.
      const open = current?.token;
      if (!finished && open !== undefined) {
        const cancel = buildEnvelope('CancelRetrievePropertiesEx', collector, [
          ['token', open, 'string'],
        ]);
        await this.#withSession('CancelRetrievePropertiesEx', cancel, {}, (answer) =>
          this.#readAnswer('CancelRetrievePropertiesEx', answer),
        ).catch(() => undefined);
      }
    }
  }

  /**
   * One page of a property collector read, with its first object already read: an expired or
   * unknown session is not a SOAP fault there — vCenter and vcsim answer HTTP 200 with a
   * `NotAuthenticated` fault for every property (`missingSet`) — so the first object tells. Then
   * the client logs in again once and asks again, as for a `NotAuthenticated` fault.
   */
  async #openPage(method: string, envelope: string, options: CallOptions) {
    const open = () =>
      this.#withSession(method, envelope, options, async (answer) => ({
        stream: streamRetrieveResult(answer.body, this.#context(answer.status)),
        cookie: answer.cookie,
      }));
    let { stream, cookie } = await open();
    let rest = stream[Symbol.asyncIterator]();
    let first = await rest.next();
    if (!first.done && sessionExpired(first.value)) {
      await rest.return?.(undefined);
      this.#logger.debug('vsphere: session not authenticated; logging in again', { method });
      await this.#relogin(cookie, options);
      ({ stream, cookie } = await open());
      rest = stream[Symbol.asyncIterator]();
      first = await rest.next();
      if (!first.done && sessionExpired(first.value)) {
        await rest.return?.(undefined);
        throw new AuthenticationError(
          `vSphere refused a fresh session for ${method}: NotAuthenticated`,
          this.faultContext,
        );
      }
    }
    return { stream, first: first.done ? undefined : first.value, rest };
  }

  /** Logs out (best effort) and releases the connections. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const cookie = this.#cookie;
    if (cookie !== undefined) {
      try {
        const content = await this.serviceContent({ timeoutMs: 5000 });
        if (content.sessionManager) {
          const envelope = buildEnvelope('Logout', content.sessionManager);
          const answer = await this.#send('Logout', envelope, { timeoutMs: 5000 }, cookie);
          await this.#drain(answer.body);
        }
      } catch (error) {
        this.#logger.debug('vsphere: logout failed', { error: String(error) });
      }
    }
    this.#cookie = undefined;
    await this.#options.dispatcher.close();
  }

  #context(status?: number): FaultContext {
    return { ...this.faultContext, ...(status === undefined ? {} : { status }) };
  }

  /**
   * Runs one request with the session cookie. A `NotAuthenticated` fault (HTTP 500, checked
   * before the body is handed on) logs in again once and repeats the request: the server
   * refused it before doing anything, so even a mutation is safe to repeat.
   */
  async #withSession<T>(
    method: string,
    envelope: string,
    options: CallOptions,
    read: (answer: RawAnswer) => Promise<T>,
  ): Promise<T> {
    const first = await this.#send(method, envelope, options, await this.session(options));
    const retry = await this.#notAuthenticated(first);
    if (!retry) return read(first);
    this.#logger.debug('vsphere: session not authenticated; logging in again', { method });
    const cookie = await this.#relogin(first.cookie, options);
    const second = await this.#send(method, envelope, options, cookie);
    const again = await this.#notAuthenticated(second);
    if (again) {
      throw new AuthenticationError(
        `vSphere refused a fresh session for ${method}: NotAuthenticated`,
        this.faultContext,
      );
    }
    return read(second);
  }

  /**
   * A non-200 answer is a fault: buffered (faults are small) and checked for NotAuthenticated.
   * Other answers are left unread for the caller.
   */
  async #notAuthenticated(answer: RawAnswer): Promise<boolean> {
    if (answer.status === 200) return false;
    const chunks: Uint8Array[] = [];
    for await (const chunk of answer.body) chunks.push(chunk);
    answer.body = chunks;
    try {
      const parsed = await parseSoapResponse(chunks, this.#context(answer.status));
      return parsed.kind === 'fault' && parsed.fault.type === 'NotAuthenticated';
    } catch {
      return false; // not SOAP: the reader reports it
    }
  }

  /** Logs in, unless another caller already replaced the `stale` cookie. Single-flight. */
  async #relogin(stale: string | undefined, options: CallOptions): Promise<string> {
    if (this.#cookie !== undefined && this.#cookie !== stale) return this.#cookie;
    if (!this.#login) {
      const pending = this.#doLogin(options).then((cookie) => {
        this.#cookie = cookie;
        return cookie;
      });
      this.#login = pending;
      const clear = () => {
        if (this.#login === pending) this.#login = undefined;
      };
      pending.then(clear, clear);
    }
    return this.#login;
  }

  async #doLogin(options: CallOptions): Promise<string> {
    if (this.#closed) {
      throw new TransportError('vSphere client is closed', {
        ...this.faultContext,
        retryable: false,
      });
    }
    const content = await this.serviceContent(options);
    if (!content.sessionManager) {
      throw new ProviderApiError('vSphere ServiceContent has no sessionManager', this.faultContext);
    }
    this.#cookie = undefined;
    const envelope = buildEnvelope('Login', content.sessionManager, [
      ['userName', this.#options.username, 'string'],
      ['password', this.#options.password, 'string'],
    ]);
    const answer = await this.#send('Login', envelope, options, undefined, true);
    const cookie = answer.setCookie;
    await this.#readAnswer('Login', answer);
    if (cookie === undefined) {
      throw new ProviderApiError('vSphere Login answered without a vmware_soap_session cookie', {
        ...this.faultContext,
        status: answer.status,
      });
    }
    this.#logger.debug('vsphere: logged in', { url: this.url.origin });
    return cookie;
  }

  /** Parses a buffered or streamed answer: the `returnval`s, or the mapped fault thrown. */
  async #readAnswer(method: string, answer: RawAnswer): Promise<unknown[]> {
    const parsed = await parseSoapResponse(answer.body, this.#context(answer.status));
    if (parsed.kind === 'fault') throw soapFaultToError(parsed.fault, this.#context(answer.status));
    if (answer.status !== 200) {
      throw new ProviderApiError(`vSphere ${method} answered HTTP ${answer.status}`, {
        ...this.faultContext,
        status: answer.status,
      });
    }
    return parsed.returnval;
  }

  async #drain(body: RawAnswer['body']): Promise<void> {
    for await (const _chunk of body) {
      // discard
    }
  }

  async #send(
    method: string,
    envelope: string,
    options: CallOptions,
    cookie: string | undefined,
    safe = SAFE_METHODS.has(method),
  ): Promise<RawAnswer> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const userSignal = options.signal;
    if (userSignal?.aborted) throw userSignal.reason;
    const controller = new AbortController();
    const onAbort = () => controller.abort(userSignal?.reason);
    userSignal?.addEventListener('abort', onAbort, { once: true });
    // The timer covers the whole exchange, body included: a server that stops mid-body must not hang.
    const timer = setTimeout(() => controller.abort(new RequestTimeout()), timeoutMs);
    const release = () => {
      clearTimeout(timer);
      userSignal?.removeEventListener('abort', onAbort);
    };
    const where = `vSphere ${method}`;
    const failure = (error: unknown) => {
      if (HvkitError.isInstance(error)) return error;
      if (userSignal?.aborted) return userSignal.reason;
      return transportErrorFrom(error, {
        where,
        safe,
        provider: this.#options.provider,
        redact: this.#options.redact,
        ...(controller.signal.reason instanceof RequestTimeout ? { timeoutMs } : {}),
        tlsHint: 'pass tls.ca (the vCenter CA certificate) or tls.fingerprint256',
        details: { method },
      });
    };
    const started = Date.now();
    // Dispatcher.request, not fetch: no WHATWG streams and headers objects per call, which is
    // most of a small call's client-side cost (a power task is five of them).
    let response: Dispatcher.ResponseData;
    try {
      response = await this.#options.dispatcher.request({
        origin: this.url.origin,
        path: `${this.url.pathname}${this.url.search}`,
        method: 'POST',
        headers: {
          'content-type': 'text/xml; charset=utf-8',
          soapaction: 'urn:vim25/6.5',
          ...(cookie === undefined ? {} : { cookie: `vmware_soap_session=${cookie}` }),
        },
        body: envelope,
        signal: controller.signal,
      });
    } catch (error) {
      release();
      throw failure(error);
    }
    this.#logger.debug('vsphere: request', {
      method,
      status: response.statusCode,
      durationMs: Date.now() - started,
    });
    const source = response.body;
    async function* body(): AsyncGenerator<Uint8Array> {
      try {
        for await (const chunk of source) yield chunk as Uint8Array;
      } catch (error) {
        throw failure(error);
      } finally {
        release();
      }
    }
    const setCookie = response.headers['set-cookie'];
    return {
      status: response.statusCode,
      body: body(),
      cookie,
      setCookie: sessionCookieOf(
        setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie],
      ),
    };
  }
}
