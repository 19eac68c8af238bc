import { Agent, fetch } from 'undici';
import type { ProxmoxSimulator } from '../index.js';

/** One HTTP exchange as the tests look at it. */
export interface Exchange {
  status: number;
  reason: string;
  contentType: string | null;
  headers: Record<string, string>;
  text: string;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  body: unknown;
}

type Parameters = Record<string, string | number | boolean | Array<string | number>>;

function encodeForm(parameters: Parameters): string {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(parameters)) {
    if (Array.isArray(value)) for (const item of value) form.append(key, String(item));
    else form.append(key, typeof value === 'boolean' ? (value ? '1' : '0') : String(value));
  }
  return form.toString();
}

/**
 * A minimal HTTPS client for tests against the simulator: real TLS verified against the
 * simulator's certificate, ticket or token auth, form-encoded writes.
 */
export class SimulatorTestClient {
  readonly dispatcher: Agent;
  ticket?: string;
  csrf?: string;
  token?: string;

  constructor(readonly simulator: ProxmoxSimulator) {
    this.dispatcher = new Agent({ connect: { ca: simulator.certificatePem } });
  }

  async login(username = 'root@pam', password = 'simulator'): Promise<Exchange> {
    const exchange = await this.request(
      'POST',
      '/access/ticket',
      { username, password },
      { auth: false },
    );
    const data = (
      exchange.body as { data?: { ticket?: string; CSRFPreventionToken?: string } } | undefined
    )?.data;
    if (exchange.status === 200 && data) {
      this.ticket = data.ticket;
      this.csrf = data.CSRFPreventionToken;
    }
    return exchange;
  }

  useToken(tokenid: string, secret: string): this {
    this.token = `PVEAPIToken=${tokenid}=${secret}`;
    this.ticket = undefined;
    return this;
  }

  async request(
    method: string,
    path: string,
    parameters: Parameters = {},
    options: {
      auth?: boolean;
      csrf?: boolean;
      headers?: Record<string, string>;
      body?: string | Uint8Array;
      rawPath?: boolean;
    } = {},
  ): Promise<Exchange> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.auth !== false) {
      if (this.token) headers.authorization = this.token;
      else if (this.ticket) {
        headers.cookie = `PVEAuthCookie=${encodeURIComponent(this.ticket)}`;
        if (method !== 'GET' && options.csrf !== false && this.csrf)
          headers.csrfpreventiontoken = this.csrf;
      }
    }
    const url = new URL(options.rawPath ? path : `/api2/json${path}`, this.simulator.url);
    let body: string | Uint8Array | undefined = options.body;
    if (body === undefined && Object.keys(parameters).length > 0) {
      if (method === 'GET' || method === 'DELETE') url.search = encodeForm(parameters);
      else {
        body = encodeForm(parameters);
        headers['content-type'] = 'application/x-www-form-urlencoded';
      }
    }
    const response = await fetch(url, { method, headers, body, dispatcher: this.dispatcher });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return {
      status: response.status,
      reason: response.statusText,
      contentType: response.headers.get('content-type'),
      headers: Object.fromEntries(response.headers.entries()),
      text,
      body: parsed,
    };
  }

  /** `data` of a 200 response; throws with the status line otherwise. */
  async data<T = unknown>(method: string, path: string, parameters: Parameters = {}): Promise<T> {
    const exchange = await this.request(method, path, parameters);
    if (exchange.status !== 200) {
      throw new Error(`${method} ${path}: ${exchange.status} ${exchange.reason} ${exchange.text}`);
    }
    return (exchange.body as { data: T }).data;
  }

  /** Polls a task until it stops; returns its final status object. */
  async waitTask(
    upid: string,
    timeoutMs = 10_000,
  ): Promise<{ status: string; exitstatus?: string }> {
    const node = upid.split(':')[1] as string;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.data<{ status: string; exitstatus?: string }>(
        'GET',
        `/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`,
      );
      if (status.status === 'stopped') return status;
      if (Date.now() > deadline) throw new Error(`task ${upid} still running`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Runs an async endpoint and waits for its task; returns the exit status. */
  async run(
    method: string,
    path: string,
    parameters: Parameters = {},
  ): Promise<string | undefined> {
    const upid = await this.data<string>(method, path, parameters);
    return (await this.waitTask(upid)).exitstatus;
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }
}
