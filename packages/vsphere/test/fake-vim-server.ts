/**
 * A tiny local vim25 endpoint for tests: NOT vcsim, NOT an HTTP mock library. It listens on
 * plain HTTP on 127.0.0.1 (the client accepts http:// URLs), routes each SOAP request by the name
 * of the Body's first element to a handler, answers with recorded or hand-written fixture bodies,
 * and records every request (method, body, cookie) for assertions.
 *
 * A method without a handler is answered the way vcsim answers one it does not implement
 * (HTTP 500, `MethodNotFound`), and listed in `unhandled`, so a test can assert it never happened.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type CapabilityDeclarations,
  createProvider,
  declareCapabilities,
  type Logger,
  type Provider,
  silentLogger,
  systemClock,
} from '@hvkit/core';
import { createVsphereDispatcher } from '../src/client/tls.js';
import { VimClient } from '../src/client/vim-client.js';
import { VSPHERE_CAPABILITY_DECLARATIONS } from '../src/vsphere-capabilities.js';
import { VsphereDriver } from '../src/vsphere-driver.js';

/** One request the server received. */
export interface FakeRequest {
  /** Local name of the Body's first element: `RetrievePropertiesEx`, `Login`… */
  method: string;
  /** The request body as sent. */
  body: string;
  /** The `Cookie` header as sent, if any. */
  cookie: string | undefined;
  /** The `_this` moref of the call: `{ type, value }`. */
  target: { type: string; value: string } | undefined;
}

/** What a handler answers. */
export interface FakeResponse {
  /** Default 200. */
  status?: number | undefined;
  body: string;
  /** Sent as one `Set-Cookie` header. */
  setCookie?: string | undefined;
}

/** Answers one request; `index` counts earlier requests of the same method (0 for the first). */
export type FakeHandler = (
  request: FakeRequest,
  index: number,
) => FakeResponse | Promise<FakeResponse>;

const SOAP_PREFIX =
  '<?xml version="1.0" encoding="UTF-8"?>\n<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n<soapenv:Body>\n';
const SOAP_SUFFIX = '\n</soapenv:Body>\n</soapenv:Envelope>\n';

/** A SOAP answer `<{method}Response xmlns="urn:vim25">{inner}</…>` (vCenter's envelope). */
export function soapResponse(method: string, inner = ''): FakeResponse {
  const element =
    inner === ''
      ? `<${method}Response xmlns="urn:vim25"/>`
      : `<${method}Response xmlns="urn:vim25">${inner}</${method}Response>`;
  return { status: 200, body: `${SOAP_PREFIX}${element}${SOAP_SUFFIX}` };
}

/** A moref answer: `<returnval type="Task">task-1</returnval>`. */
export function morefResponse(method: string, type: string, value: string): FakeResponse {
  return soapResponse(method, `<returnval type="${type}">${value}</returnval>`);
}

/**
 * The first element inside `soapenv:Body` (any prefix), its local name. Undefined for a body
 * that is not a SOAP envelope.
 */
export function soapMethodOf(body: string): string | undefined {
  const open = /<(?:[\w.-]+:)?Body\b[^>]*>/.exec(body);
  if (open === null) return undefined;
  const rest = body.slice(open.index + open[0].length);
  const first = /<(?:[\w.-]+:)?([\w.-]+)/.exec(rest);
  return first?.[1];
}

function targetOf(body: string): FakeRequest['target'] {
  const match = /<_this type="([^"]+)">([^<]*)<\/_this>/.exec(body);
  return match ? { type: match[1] as string, value: match[2] as string } : undefined;
}

/** Root of this package's fixtures: recorded vcsim samples and hand-written vCenter answers. */
const FIXTURE_DIRS = {
  /** Hand-written vCenter answers and vcsim samples copied for these tests. */
  test: new URL('./__fixtures__/', import.meta.url),
  /** The SOAP layer's fixtures (vcsim recordings and a synthetic token page). */
  soap: new URL('../src/soap/__fixtures__/', import.meta.url),
} as const;

/**
 * Reads a fixture file as a response. Leading `<!-- … -->` comment lines are stripped (an XML
 * parser must refuse a comment before the XML declaration); the first one gives the HTTP status
 * (`HTTP 500`) and the `Set-Cookie: …` it ends with, as the vcsim recorder wrote them.
 */
export function loadFixture(name: string, dir: keyof typeof FIXTURE_DIRS = 'test'): FakeResponse {
  let text = readFileSync(new URL(name, FIXTURE_DIRS[dir]), 'utf8');
  const comments: string[] = [];
  for (;;) {
    const match = /^<!--(.*?)-->\r?\n/s.exec(text);
    if (match === null) break;
    comments.push(match[1] ?? '');
    text = text.slice(match[0].length);
  }
  const header = comments[0] ?? '';
  const status = /HTTP (\d{3})/.exec(header);
  const cookie = /Set-Cookie: (.*?)\s*$/s.exec(header);
  return {
    status: status === null ? 200 : Number(status[1]),
    body: text,
    ...(cookie === null ? {} : { setCookie: cookie[1] }),
  };
}

/** vcsim's answer to a method it does not implement (`fault-unknown-method` style). */
function methodNotFound(method: string, target: FakeRequest['target']): FakeResponse {
  const receiver = target ?? { type: 'ServiceInstance', value: 'ServiceInstance' };
  return {
    status: 500,
    body: `${SOAP_PREFIX}<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>${receiver.type}:${receiver.value} does not implement: ${method}</faultstring><detail><MethodNotFoundFault xmlns="urn:vim25" xsi:type="MethodNotFound"><receiver type="${receiver.type}">${receiver.value}</receiver><method>${method}</method></MethodNotFoundFault></detail></soapenv:Fault>${SOAP_SUFFIX}`,
  };
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The fake endpoint. Start with {@link FakeVimServer.start}; close it in `afterEach`. */
export class FakeVimServer {
  /** Every request, in arrival order. */
  readonly requests: FakeRequest[] = [];
  /** Requests no handler answered (answered MethodNotFound). */
  readonly unhandled: FakeRequest[] = [];
  readonly #handlers = new Map<string, FakeHandler>();
  readonly #server: Server;
  #url = '';

  private constructor() {
    this.#server = createServer((request, response) => {
      this.#serve(request, response).catch((error: unknown) => {
        response.statusCode = 599;
        response.end(String(error));
      });
    });
  }

  /** Starts a server on an ephemeral port of 127.0.0.1. */
  static async start(handlers: Record<string, FakeHandler | FakeResponse> = {}) {
    const server = new FakeVimServer();
    for (const [method, handler] of Object.entries(handlers)) server.on(method, handler);
    await new Promise<void>((resolve) => server.#server.listen(0, '127.0.0.1', resolve));
    const { port } = server.#server.address() as AddressInfo;
    server.#url = `http://127.0.0.1:${port}/sdk`;
    return server;
  }

  /** `http://127.0.0.1:<port>/sdk`. */
  get url(): string {
    return this.#url;
  }

  /** Sets the handler of `method` (a fixed response, or a function of the request). */
  on(method: string, handler: FakeHandler | FakeResponse): this {
    this.#handlers.set(method, typeof handler === 'function' ? handler : () => handler);
    return this;
  }

  /** Answers `method` with `responses` in turn; a call past the end fails the request (HTTP 599). */
  sequence(method: string, responses: readonly (FakeResponse | FakeHandler)[]): this {
    return this.on(method, (request, index) => {
      const next = responses[index];
      if (next === undefined) {
        throw new Error(`fake vim server: unexpected ${method} call #${index + 1}`);
      }
      return typeof next === 'function' ? next(request, index) : next;
    });
  }

  /** The requests of `method`, in order. */
  calls(method: string): FakeRequest[] {
    return this.requests.filter((request) => request.method === method);
  }

  /** The method names received, in order. */
  methods(): string[] {
    return this.requests.map((request) => request.method);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request);
    const method = soapMethodOf(body) ?? `${request.method ?? 'GET'} ${request.url ?? ''}`;
    const cookie = request.headers.cookie;
    const recorded: FakeRequest = { method, body, cookie, target: targetOf(body) };
    const index = this.calls(method).length;
    this.requests.push(recorded);
    const handler = this.#handlers.get(method);
    let answer: FakeResponse;
    if (handler === undefined) {
      this.unhandled.push(recorded);
      answer = methodNotFound(method, recorded.target);
    } else {
      answer = await handler(recorded, index);
    }
    response.statusCode = answer.status ?? 200;
    response.setHeader('content-type', 'text/xml; charset=utf-8');
    if (answer.setCookie !== undefined) response.setHeader('set-cookie', answer.setCookie);
    response.end(answer.body);
  }
}

/** The text of the first `<name>…</name>` element of `body` (raw, still escaped; `<name/>` is ''). */
export function elementText(body: string, name: string): string | undefined {
  const match = new RegExp(`<${name}(?:\\s[^>]*?)?(?:/>|>([^<]*)</${name}>)`).exec(body);
  return match === null ? undefined : (match[1] ?? '');
}

/** The first `<name …>…</name>` element of `body`, verbatim (for inline snapshots). */
export function elementOf(body: string, name: string): string | undefined {
  const start = new RegExp(`<${name}(?:\\s[^>]*)?>`).exec(body);
  if (start === null) return undefined;
  const end = body.indexOf(`</${name}>`, start.index);
  return end < 0 ? undefined : body.slice(start.index, end + name.length + 3);
}

/**
 * The answers every session needs: `RetrieveServiceContent` (vcsim's recording) and `Login`
 * (a vCenter answer with a quoted, Secure session cookie).
 */
export function sessionHandlers(): Record<string, FakeResponse> {
  return {
    RetrieveServiceContent: loadFixture('RetrieveServiceContent.res.xml', 'soap'),
    Login: loadFixture('synthetic-vcenter-Login.res.xml'),
  };
}

/** The quoted cookie value of `synthetic-vcenter-Login.res.xml`, as the client must send it. */
export const VCENTER_COOKIE = '"52a7e3f1-8c4d-4b6e-9a0f-1d2c3b4a5e6f"';

/** The password of every fake session: it must reach Login only. */
export const FAKE_PASSWORD = 'S3cret!pass<&>';

/**
 * The real driver on a real VimClient pointed at `server`. `declare` overrides capability
 * declarations (to reach driver code the shipped declaration gates, e.g. a linked clone).
 */
export function fakeDriver(
  server: FakeVimServer,
  options: {
    name?: string;
    declare?: Partial<CapabilityDeclarations>;
    logger?: Logger;
  } = {},
): VsphereDriver {
  const name = options.name ?? 'vc';
  const redact = { secrets: [FAKE_PASSWORD] };
  const client = new VimClient({
    url: server.url,
    username: 'administrator@vsphere.local',
    password: FAKE_PASSWORD,
    dispatcher: createVsphereDispatcher(),
    provider: name,
    logger: options.logger,
    redact,
  });
  return new VsphereDriver({
    name,
    client,
    clock: systemClock,
    logger: options.logger ?? silentLogger,
    redact,
    credentials: { username: 'administrator@vsphere.local', password: FAKE_PASSWORD },
    ...(options.declare === undefined
      ? {}
      : {
          capabilities: declareCapabilities({
            ...VSPHERE_CAPABILITY_DECLARATIONS,
            ...options.declare,
          } as CapabilityDeclarations),
        }),
  });
}

/** core's provider over {@link fakeDriver}: the same contract layer createVsphereProvider uses. */
export function fakeProvider(
  server: FakeVimServer,
  options: Parameters<typeof fakeDriver>[1] = {},
): Provider {
  return createProvider(fakeDriver(server, options));
}

/** The answers a property-collector watch needs (vcsim's recordings). */
export function watchHandlers(): Record<string, FakeResponse> {
  return {
    CreatePropertyCollector: loadFixture('CreatePropertyCollector.res.xml'),
    CreateFilter: loadFixture('CreateFilter-Task.res.xml'),
    DestroyPropertyCollector: loadFixture('DestroyPropertyCollector.res.xml'),
  };
}
