import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import {
  hasPrivilege,
  type Principal,
  parseTokenHeader,
  privilegeSet,
  type SimulatorToken,
  type SimulatorUser,
  tokenPrivileges,
} from './auth.js';
import {
  type HandlerRequest,
  type HandlerTable,
  type SimulatorContext,
  WithTotal,
} from './context.js';
import { ApiError } from './errors.js';
import {
  parseCookies,
  parseForm,
  parseJsonBody,
  parseMultipart,
  readBody,
} from './request-parsing.js';
import { checkReturns } from './returns-check.js';
import { Router } from './router.js';
import type { EndpointSchema } from './schema.js';
import { type RawParameter, validateParameters } from './validate.js';

const API_PREFIX = '/api2/json';

/** What the request dispatcher needs beyond the handler context. */
export interface DispatcherOptions {
  context: SimulatorContext;
  handlers: HandlerTable;
  users: SimulatorUser[];
  tokens: SimulatorToken[];
  /** Delay before every 401 (real servers wait ~3 s). */
  authFailureDelayMs: number;
  /** Answer 500 when a handler's data breaks the endpoint's `returns` schema (a self-check for tests). */
  verifyReturns: boolean;
  /** Error bodies as libpve-http-server-perl < 5.2 wrote them (no `message`, empty pre-handler bodies). */
  legacyErrorBodies: boolean;
  /** Sees every request as received (method, path with query, raw body), before it is handled. */
  onRequest?: ((request: ObservedRequest) => void) | undefined;
}

/** A request as the simulator received it, for tests and benches that record traffic. */
export interface ObservedRequest {
  method: string;
  /** Path with query string, e.g. `/api2/json/cluster/resources?type=vm`. */
  path: string;
  contentType: string;
  body: Buffer;
}

function reasonPhrase(message: string): string {
  const first = message.split('\n')[0] ?? '';
  return first.replace(/[^\x20-\x7e\x80-\xff\t]/g, '?') || 'Error';
}

function standardHeaders(response: ServerResponse): void {
  const date = new Date().toUTCString();
  response.setHeader('Server', 'pve-api-daemon/3.0');
  response.setHeader('Cache-Control', 'max-age=0');
  response.setHeader('Pragma', 'no-cache');
  response.setHeader('Date', date);
  response.setHeader('Expires', date);
}

/** JSON answer; gzip when the client accepts it and the body exceeds 1024 bytes, as pveproxy does. */
function sendJson(
  response: ServerResponse,
  status: number,
  reason: string,
  body: unknown,
  acceptsGzip = false,
): void {
  const text = Buffer.from(JSON.stringify(body));
  standardHeaders(response);
  response.setHeader('Content-Type', 'application/json;charset=UTF-8');
  let payload: Buffer = text;
  if (acceptsGzip && text.length > 1024) {
    payload = gzipSync(text);
    response.setHeader('Content-Encoding', 'gzip');
  }
  response.setHeader('Content-Length', payload.length);
  response.writeHead(status, reason);
  response.end(payload);
}

function sendError(response: ServerResponse, error: ApiError, legacy = false): void {
  const message = error.message.endsWith('\n') ? error.message : `${error.message}\n`;
  if (error.options.preHandler) {
    const text = legacy ? '' : message;
    standardHeaders(response);
    response.setHeader('Content-Length', Buffer.byteLength(text));
    response.writeHead(error.status, reasonPhrase(error.message));
    response.end(text);
    return;
  }
  const body: Record<string, unknown> = legacy ? { data: null } : { data: null, message };
  if (error.options.errors) body.errors = error.options.errors;
  sendJson(response, error.status, reasonPhrase(error.message), body);
}

/** Evaluates a schema permission check; returns the failing "path, privilege" or undefined. */
function checkPermission(
  check: unknown[],
  principal: Principal,
  params: Record<string, string | number>,
): string | undefined {
  const [operator, ...rest] = check;
  if (operator === 'and') {
    for (const item of rest) {
      const failure = checkPermission(item as unknown[], principal, params);
      if (failure) return failure;
    }
    return undefined;
  }
  if (operator === 'or') {
    let failure: string | undefined;
    for (const item of rest) {
      failure = checkPermission(item as unknown[], principal, params);
      if (!failure) return undefined;
    }
    return failure;
  }
  if (operator !== 'perm') return undefined;
  const [template, privileges, ...options] = rest as [string, string[], ...unknown[]];
  const flags: Record<string, unknown> = {};
  for (let index = 0; index + 1 < options.length; index += 2)
    flags[String(options[index])] = options[index + 1];
  if (flags.require_param !== undefined && params[String(flags.require_param)] === undefined) {
    return `${template}, ${privileges.join('|')}`;
  }
  const path = template.replace(/\{(\w+)\}/g, (_match, name: string) => String(params[name] ?? ''));
  if (flags.any) {
    return privileges.some((privilege) => hasPrivilege(principal, privilege))
      ? undefined
      : `${path}, ${privileges.join('|')}`;
  }
  const missing = privileges.find((privilege) => !hasPrivilege(principal, privilege));
  return missing ? `${path}, ${missing}` : undefined;
}

/** The HTTP request handler of the simulator. */
export function createDispatcher(options: DispatcherOptions) {
  const { context } = options;
  const router = new Router(Object.keys(context.schemas));
  const legacyAuthTexts = context.version === '8.4';

  const unauthorized = (message: string) => new ApiError(401, message, { preHandler: true });

  function authenticate(
    request: IncomingMessage,
    method: string,
    path: string,
    schema: EndpointSchema | undefined,
  ) {
    const authorization = request.headers.authorization ?? '';
    if (/^PVEAPIToken[= ]/.test(authorization)) {
      const parsed = parseTokenHeader(authorization);
      const token =
        parsed && options.tokens.find((candidate) => candidate.tokenid === parsed.tokenid);
      const user =
        token &&
        options.users.find((candidate) => candidate.userid === token.tokenid.split('!')[0]);
      if (!parsed || !token || !user || token.secret !== parsed.secret) {
        throw unauthorized(legacyAuthTexts ? 'invalid token value!' : 'Authentication failed!');
      }
      if (schema && !schema.allowtoken) {
        throw new ApiError(
          403,
          `Permission check failed (URI '${path}' not available with API token, need proper ticket.`,
          { preHandler: true },
        );
      }
      const principal: Principal = {
        userid: user.userid,
        tokenid: token.tokenid,
        privileges: tokenPrivileges(user, token),
        kind: 'token',
      };
      return principal;
    }
    if (schema?.permissions?.user === 'world') return undefined;
    const cookies = parseCookies(request.headers.cookie);
    const ticket =
      cookies.PVEAuthCookie ??
      (/^PVEAuthCookie=(.+)$/.exec(authorization)?.[1] as string | undefined);
    if (!ticket) throw unauthorized('No ticket');
    const userid = context.tickets.verify(ticket);
    const user = userid && options.users.find((candidate) => candidate.userid === userid);
    if (!userid || !user) {
      throw unauthorized(
        legacyAuthTexts ? 'permission denied - invalid PVE ticket' : 'Authentication failed!',
      );
    }
    if (method !== 'GET') {
      const csrf = request.headers.csrfpreventiontoken;
      if (!context.tickets.verifyCsrf(userid, Array.isArray(csrf) ? csrf[0] : csrf)) {
        throw unauthorized('Permission denied - invalid csrf token');
      }
    }
    const principal: Principal = {
      userid,
      privileges: privilegeSet(user.privileges),
      kind: 'ticket',
    };
    return principal;
  }

  async function process(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = (request.method ?? 'GET').toUpperCase();
    const url = new URL(request.url ?? '/', 'https://127.0.0.1');
    const fullPath = url.pathname;
    const path = fullPath.startsWith(`${API_PREFIX}/`)
      ? fullPath.slice(API_PREFIX.length)
      : fullPath;
    if (context.faults.takeDrop(method, path)) {
      request.socket.destroy();
      return;
    }
    const failure = context.faults.takeFailure(method, path);
    if (failure) {
      standardHeaders(response);
      response.writeHead(failure.status, failure.reason ?? 'Connection timed out');
      response.end();
      return;
    }
    const body = await readBody(request);
    options.onRequest?.({
      method,
      path: request.url ?? fullPath,
      contentType: String(request.headers['content-type'] ?? ''),
      body,
    });
    try {
      if (!fullPath.startsWith(`${API_PREFIX}/`)) {
        throw new ApiError(501, `Method '${method} ${fullPath}' not implemented`, {
          preHandler: true,
        });
      }
      if ((method === 'GET' || method === 'DELETE') && body.length > 0) {
        throw new ApiError(501, `Unexpected content for method '${method}'`, { preHandler: true });
      }
      const route = router.match(method, path);
      const schema = route ? context.schemas[route.key] : undefined;
      let principal: Principal | undefined;
      try {
        principal = authenticate(request, method, path, schema);
      } catch (error) {
        if (error instanceof ApiError && error.status === 401 && options.authFailureDelayMs > 0) {
          await new Promise((resolve) => setTimeout(resolve, options.authFailureDelayMs));
        }
        throw error;
      }
      if (!route || !schema) throw new ApiError(501, `Method '${method} ${path}' not implemented`);
      const handler = options.handlers[route.key];
      if (!handler) throw new ApiError(501, `Method '${method} ${path}' not implemented`);

      const contentType = String(request.headers['content-type'] ?? '');
      let parameters: Record<string, RawParameter> = {};
      let upload: HandlerRequest['upload'];
      if (body.length > 0) {
        if (contentType.startsWith('application/json')) {
          try {
            parameters = parseJsonBody(body.toString('utf8'));
          } catch {
            throw new ApiError(400, 'Parameter verification failed.', {
              errors: { body: 'unable to parse JSON request body' },
            });
          }
        } else if (contentType.startsWith('multipart/form-data')) {
          const parsed = parseMultipart(body, contentType);
          parameters = parsed.fields;
          if (parsed.file) {
            upload = { filename: parsed.file.filename, data: parsed.file.data };
            parameters[parsed.file.field] = parsed.file.filename;
          }
        } else {
          parameters = parseForm(body.toString('utf8'));
        }
      }
      Object.assign(parameters, parseForm(url.search.slice(1)));
      for (const [name, value] of Object.entries(route.params)) parameters[name] = value;
      const { values, errors } = validateParameters(schema.parameters, parameters);
      if (Object.keys(errors).length > 0) {
        throw new ApiError(400, 'Parameter verification failed.', { errors });
      }
      const caller: Principal = principal ?? { userid: '', privileges: new Set(), kind: 'ticket' };
      const check = schema.permissions?.check;
      if (principal && check && !schema.permissions?.user) {
        const failure = checkPermission(check, principal, values);
        if (failure) throw new ApiError(403, `Permission check failed (${failure})`);
      }
      const result = await handler({ context, params: values, principal: caller, upload });
      if (options.verifyReturns) {
        const data = result instanceof WithTotal ? result.data : (result ?? null);
        const problems = checkReturns(schema.returns, data);
        if (problems.length > 0) {
          throw new ApiError(
            500,
            `simulator answer breaks the ${route.key} return schema: ${problems.join('; ')}`,
          );
        }
      }
      const gzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
      if (result instanceof WithTotal) {
        sendJson(response, 200, 'OK', { data: result.data, total: result.total }, gzip);
      } else {
        sendJson(response, 200, 'OK', { data: result ?? null }, gzip);
      }
    } catch (error) {
      if (error instanceof ApiError) {
        sendError(response, error, options.legacyErrorBodies);
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      sendError(response, new ApiError(500, message), options.legacyErrorBodies);
    }
  }

  return (request: IncomingMessage, response: ServerResponse) => {
    process(request, response).catch((error: unknown) => {
      if (!response.headersSent) sendError(response, new ApiError(500, String(error)));
      else response.destroy();
    });
  };
}
