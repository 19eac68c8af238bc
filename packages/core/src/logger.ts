import { type RedactOptions, redact, redactString } from './redact.js';

/** Structured logger. hvkit logs little, at `debug` mostly; bring pino, console or your own. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Discards everything. The default. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/**
 * Wraps a logger so every message and field is redacted first: secret-named keys, secret-shaped
 * text and the given secret values never reach the sink.
 */
export function redactingLogger(logger: Logger, options: RedactOptions = {}): Logger {
  // Nothing reaches a silent logger, so there is nothing to redact (and no cost on hot paths).
  if (logger === silentLogger) return silentLogger;
  const wrap =
    (level: keyof Logger) =>
    (message: string, fields?: Record<string, unknown>): void => {
      logger[level](
        redactString(message, options),
        fields === undefined ? undefined : redact(fields, options),
      );
    };
  return { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error') };
}
