/** Matches request paths against the schema's path templates. */
export class Router {
  readonly #routes: Array<{ method: string; template: string; pattern: RegExp; names: string[] }> =
    [];

  constructor(keys: Iterable<string>) {
    for (const key of keys) {
      const [method, template] = key.split(' ') as [string, string];
      const names: string[] = [];
      const source = template
        .replace(/[.*+?^$()|[\]\\]/g, '\\$&')
        .replace(/\{(\w+)\}/g, (_match, name: string) => {
          names.push(name);
          return '([^/]+)';
        });
      this.#routes.push({ method, template, pattern: new RegExp(`^${source}/?$`), names });
    }
  }

  /** The endpoint key and path parameters of a request, if served. */
  match(method: string, path: string): { key: string; params: Record<string, string> } | undefined {
    for (const route of this.#routes) {
      if (route.method !== method) continue;
      const match = route.pattern.exec(path);
      if (!match) continue;
      const params: Record<string, string> = {};
      route.names.forEach((name, index) => {
        params[name] = decodeURIComponent(match[index + 1] as string);
      });
      return { key: `${method} ${route.template}`, params };
    }
    return undefined;
  }
}
