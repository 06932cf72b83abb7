import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';
export const LogFormats = ['json', 'pretty'] as const;
export type LogFormat = (typeof LogFormats)[number];
export const LogLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LogLevels)[number];

export interface LoggerOptions {
  format: LogFormat;
  level: LogLevel;
  /** Fields stamped on every line, e.g. `{ node: 'worker-1' }`. */
  base?: Record<string, unknown>;
  /** Where lines go; standard error by default so stdout stays free for command output. */
  destination?: NodeJS.WritableStream;
}

/**
 * Paths that must never reach a log line. Kubeconfig material, bearer tokens and secret data are
 * the ones this agent handles; pino replaces them with "[redacted]" wherever they appear.
 */
const redactPaths = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'password',
  '*.password',
  'keyData',
  '*.keyData',
  'clientKey',
  '*.clientKey',
  'data',
  'stringData',
];

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? process.stderr;
  const common = {
    level: options.level,
    base: options.base ?? {},
    redact: { paths: redactPaths, censor: '[redacted]' },
  };
  if (options.format === 'pretty') {
    // Synchronous pretty stream (no worker thread): humans read this, throughput is not the point.
    return pino(common, pretty({ destination, colorize: false, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  return pino({ ...common, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/** A logger that drops everything: for pure code under test. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
