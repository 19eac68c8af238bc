// An HTTP proxy in front of a vcsim bed that loses requests and answers on cue, so the fault
// tests can prove what the client says when a connection closes without an answer, or when no
// answer ever comes. The provider talks plain HTTP to the proxy; the proxy talks HTTPS to vcsim,
// trusting the bed's own certificate. Each SOAP method that reaches the proxy is recorded.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { VcsimReady } from './vcsim.js';

/**
 * What happens to a request whose SOAP method matches a rule:
 * - `drop-request`: the connection is closed once the request is read; vcsim never sees it.
 * - `drop-response`: vcsim handles the request; the connection is closed instead of answering.
 * - `truncate-response`: the status, headers and half of vcsim's body are sent, then the
 *   connection is closed.
 * - `hang`: nothing is forwarded or answered; the connection stays open until close().
 */
export type FaultMode = 'drop-request' | 'drop-response' | 'truncate-response' | 'hang';

/** A SOAP method (the element under `Body`) and what to do to it. */
export interface FaultRule {
  method: string;
  mode: FaultMode;
  /** How many matching requests to hit; default every one until clear(). */
  times?: number;
}

/** A running proxy. */
export interface FaultProxy {
  /** `http://127.0.0.1:<port>/sdk`. */
  readonly url: string;
  /** The SOAP method of every request received, in order (faulted ones included). */
  readonly methods: string[];
  fail(rule: FaultRule): void;
  /** Forgets every rule. */
  clear(): void;
  /** How many requests for `method` arrived since `from` (an index into `methods`). */
  count(method: string, from?: number): number;
  /** Closes the server and every connection, hanging ones included. */
  close(): Promise<void>;
}

const SOAP_METHOD = /<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?([\w-]+)/;

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** Starts a proxy on 127.0.0.1 and a free port in front of `bed`. */
export async function startFaultProxy(bed: VcsimReady): Promise<FaultProxy> {
  const agent = new Agent({ keepAlive: true, ca: bed.certificatePem });
  const sockets = new Set<Socket>();
  const methods: string[] = [];
  let rules: (FaultRule & { left: number })[] = [];

  function ruleFor(method: string): FaultRule | undefined {
    const rule = rules.find((item) => item.method === method && item.left > 0);
    if (rule) rule.left -= 1;
    return rule;
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request);
    const method = SOAP_METHOD.exec(body.toString('utf8'))?.[1] ?? '(not SOAP)';
    methods.push(method);
    const rule = ruleFor(method);
    if (rule?.mode === 'hang') return;
    if (rule?.mode === 'drop-request') {
      request.socket.destroy();
      return;
    }
    const headers = { ...request.headers };
    delete headers.host;
    delete headers.connection;
    const upstream = httpsRequest({
      host: bed.host,
      port: bed.port,
      path: request.url,
      method: request.method,
      headers: { ...headers, 'content-length': String(body.length) },
      agent,
    });
    upstream.on('error', () => request.socket.destroy());
    upstream.on('response', async (answer) => {
      const answerBody = await readBody(answer);
      if (rule?.mode === 'drop-response') {
        request.socket.destroy();
        return;
      }
      const answerHeaders = { ...answer.headers };
      delete answerHeaders['transfer-encoding'];
      delete answerHeaders.connection;
      if (rule?.mode === 'truncate-response') {
        response.writeHead(answer.statusCode ?? 502, {
          ...answerHeaders,
          'content-length': String(answerBody.length),
        });
        response.write(answerBody.subarray(0, Math.floor(answerBody.length / 2)), () =>
          setTimeout(() => request.socket.destroy(), 20),
        );
        return;
      }
      response.writeHead(answer.statusCode ?? 502, {
        ...answerHeaders,
        'content-length': String(answerBody.length),
      });
      response.end(answerBody);
    });
    upstream.end(body);
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => request.socket.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/sdk`,
    methods,
    fail(rule) {
      rules.push({ ...rule, left: rule.times ?? Number.POSITIVE_INFINITY });
    },
    clear() {
      rules = [];
    },
    count(method, from = 0) {
      return methods.slice(from).filter((item) => item === method).length;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await closed;
    },
  };
}
