import { subscribe } from 'node:diagnostics_channel';

/**
 * Counts the HTTP requests undici sends to `origin`, through undici's `undici:request:create`
 * diagnostics channel: every request the provider makes, whatever dispatcher it uses, including
 * the ones whose connection then drops. Pass `() => counter.count` as a suite's `ioProbe`.
 */
export function countHttpRequests(origin: string): { readonly count: number; paths: string[] } {
  const counter = { count: 0, paths: [] as string[] };
  const expected = new URL(origin).origin;
  subscribe('undici:request:create', (message) => {
    const request = (message as { request: { origin: string | URL; method: string; path: string } })
      .request;
    if (new URL(String(request.origin)).origin !== expected) return;
    counter.count += 1;
    counter.paths.push(`${request.method} ${request.path}`);
  });
  return counter;
}
