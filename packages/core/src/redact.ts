/**
 * Redaction: the one place that decides what a secret looks like. Errors, `toJSON()` output and
 * log fields all pass through here, so a password, token, ticket or private key given to a
 * provider never leaves the process in text a user might paste into an issue.
 */

/** Replacement text for a redacted value. */
export const REDACTED = '[REDACTED]';

/** Object keys whose values are always secrets, whatever they contain. */
const SECRET_KEY =
  /pass(word|phrase)?$|passwd|secret|token|ticket|authori[sz]ation|cookie|csrf|private.?key|api.?key|credential|session([_-]?(id|key))?$|^pwd$/i;

/** Text shapes that carry secrets inside otherwise harmless strings. */
const SECRET_PATTERNS: readonly [RegExp, string][] = [
  // "key": "value" pairs whose key names a secret (`"password"`, `"apiToken"`, `"access_token"`).
  // First, so that no later pattern can eat a backslash of an escaped quote inside the value.
  [
    /("[\w-]*?(?:pass(?:word|phrase)?|passwd|secret|token|ticket|api[_-]?key|private[_-]?key|session[_-]?id)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi,
    `$1"${REDACTED}"`,
  ],
  // PEM and OpenSSH private keys, whole block.
  [
    /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g,
    REDACTED,
  ],
  // HTTP authorization: a bearer token anywhere; any scheme's credentials after `Authorization`.
  // (`Basic` alone is ordinary English — "network.basic unsupported" must stay readable.)
  [/\b(Bearer)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`],
  [
    /(\b(?:proxy-)?authori[sz]ation["']?\s*[:=]\s*["']?(?:[A-Za-z][\w-]*\s+)?)[^\s"',;]+/gi,
    `$1${REDACTED}`,
  ],
  // Proxmox API tokens and tickets.
  [/PVEAPIToken=[^\s"',;]+/g, `PVEAPIToken=${REDACTED}`],
  [/PVEAuthCookie=[^\s"',;]+/g, `PVEAuthCookie=${REDACTED}`],
  [/PVE:[^\s:"']+:[0-9A-F]{8}::[A-Za-z0-9+/=]+/g, REDACTED],
  // vSphere session cookies, quoted or not.
  [/vmware_soap_session=("[^"]*"|[^\s;,]+)/g, `vmware_soap_session=${REDACTED}`],
  // key=value pairs whose key names a secret, prefixed or not (`apiToken=`, `access_token=`).
  [
    /\b([\w-]*?(?:pass(?:word|phrase)?|passwd|secret|token|ticket|api[_-]?key|private[_-]?key|session[_-]?id)\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&,;"'}]+)/gi,
    `$1${REDACTED}`,
  ],
  // user:password@ in URLs.
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:)[^\s/@]+@/gi, `$1${REDACTED}@`],
  // A token used as the whole userinfo (`https://<token>@host`): 20 or more token characters, a
  // length no ordinary user name reaches.
  [/(\b[a-z][a-z0-9+.-]*:\/\/)[A-Za-z0-9_~.%-]{20,}@/gi, `$1${REDACTED}@`],
];

/** Options for {@link redactString} and {@link redact}. */
export interface RedactOptions {
  /**
   * Exact secret values known to the caller (a provider's password, token, ticket). Every
   * occurrence is replaced, wherever it appears. Values shorter than 4 characters are ignored so
   * that redaction cannot shred ordinary text.
   */
  secrets?: readonly string[] | undefined;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Returns `text` with every known secret value and every secret-shaped substring replaced. */
export function redactString(text: string, options: RedactOptions = {}): string {
  let result = text;
  // Longest first: scrubbing a shorter secret inside a longer one would leave the rest visible.
  const secrets = [...(options.secrets ?? [])].sort((a, b) => b.length - a.length);
  for (const secret of secrets) {
    if (secret.length >= 4) {
      result = result.replace(new RegExp(escapeRegExp(secret), 'g'), REDACTED);
    }
  }
  for (const [pattern, replacement] of SECRET_PATTERNS) {
    result = result.replace(pattern, replacement);
  }
  return result;
}

/** True when an object key names a secret (`password`, `apiToken`, `ticket`, …). */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/**
 * Deep copy of `value` with secrets removed: values under secret-named keys become
 * `[REDACTED]`, strings are passed through {@link redactString}. Cycles become `[Circular]`;
 * binary buffers are summarised by length, never copied.
 */
export function redact<T>(value: T, options: RedactOptions = {}): T {
  const seen = new WeakSet<object>();
  const visit = (current: unknown, depth: number): unknown => {
    if (typeof current === 'string') return redactString(current, options);
    if (current === null || typeof current !== 'object') return current;
    if (depth > 32) return '[Truncated]';
    if (seen.has(current)) return '[Circular]';
    seen.add(current);
    if (ArrayBuffer.isView(current) || current instanceof ArrayBuffer) {
      return `[${current.byteLength} bytes]`;
    }
    if (current instanceof Date) return new Date(current.getTime());
    if (Array.isArray(current)) return current.map((item) => visit(item, depth + 1));
    if (current instanceof Error) {
      return {
        name: current.name,
        message: redactString(current.message, options),
      };
    }
    const output: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(current)) {
      output[key] =
        isSecretKey(key) && item !== undefined && item !== null && item !== ''
          ? REDACTED
          : visit(item, depth + 1);
    }
    return output;
  };
  return visit(value, 0) as T;
}
