/**
 * A codec for self-contained task ids: `<prefix>` + the base64url JSON of a provider's task
 * reference. A backend's own task handle (a UPID, a moref) often does not say everything an
 * hvkit task needs, and some operations have no backend task at all, so providers put what they
 * need in the id itself. The result is URL-safe and complete: any process holding the id can
 * answer `getTask` for it. What goes in the reference is the provider's business; it must hold
 * no secrets, because ids are logged and serialised.
 */
import { type HvkitErrorOptions, NotFoundError } from './errors.js';
import { type RedactOptions, redactString } from './redact.js';

/** Encodes a task reference as `prefix` + base64url(JSON). */
export function encodeTaskRef(prefix: string, ref: object): string {
  return `${prefix}${Buffer.from(JSON.stringify(ref), 'utf8').toString('base64url')}`;
}

/** How {@link decodeTaskRef} recognises and reports a provider's ids. */
export interface TaskRefDecoding<T> extends HvkitErrorOptions {
  /** The prefix the provider's ids start with, e.g. `pve.`. */
  prefix: string;
  /** Backend name for the error message, e.g. `Proxmox` in `no Proxmox task "…"`. */
  backend: string;
  /** Accepts a decoded JSON value as the provider's reference type. */
  isRef: (value: unknown) => value is T;
}

/**
 * Decodes a task id made by {@link encodeTaskRef}.
 *
 * @throws NotFoundError (resource `task`) for an id with another prefix, undecodable content or a
 *   value `isRef` refuses: a provider did not mint it, so there is no such task.
 */
export function decodeTaskRef<T>(id: string, decoding: TaskRefDecoding<T>): T {
  const { prefix, backend, isRef, ...options } = decoding;
  if (id.startsWith(prefix)) {
    try {
      const value: unknown = JSON.parse(
        Buffer.from(id.slice(prefix.length), 'base64url').toString('utf8'),
      );
      if (isRef(value)) return value;
    } catch {
      // Not JSON: not one of ours, same answer as a wrong prefix.
    }
  }
  // Redact before quoting: JSON escapes would hide a secret's shape from the message's redaction.
  const shown = JSON.stringify(redactString(id, options.redact));
  throw new NotFoundError('task', id, `no ${backend} task ${shown}`, options);
}

/** A provider's task-id codec, made by {@link taskIdCodec}. */
export interface TaskIdCodec<T> {
  /** Encodes a task reference as a task id. */
  encode(ref: T): string;
  /**
   * Decodes a task id; `NotFoundError` (task) for anything this provider did not mint.
   *
   * @param provider Provider instance name carried by the error.
   * @param redact Secrets to scrub from the error: a caller may pass anything as a task id.
   */
  decode(id: string, provider: string, redact?: RedactOptions): T;
}

/**
 * Binds {@link encodeTaskRef} and {@link decodeTaskRef} to one provider's prefix, backend name and
 * reference check, so a provider's task-id module is its reference type and one call.
 */
export function taskIdCodec<T extends object>(
  decoding: Pick<TaskRefDecoding<T>, 'prefix' | 'backend' | 'isRef'>,
): TaskIdCodec<T> {
  return {
    encode: (ref) => encodeTaskRef(decoding.prefix, ref),
    decode: (id, provider, redact) => decodeTaskRef(id, { ...decoding, provider, redact }),
  };
}

/** True for a JSON object with a string `k` (task kind), the field every provider's reference has. */
export function hasTaskKind(value: unknown): value is { k: string } {
  return (
    typeof value === 'object' && value !== null && typeof (value as { k?: unknown }).k === 'string'
  );
}
