// Structured logger: one record per line, JSON lines or logfmt, with levels.
// Subscribers (the `logs` socket command) see every record at or above their own
// level, independent of the output level, so an operator can tail debug records
// from a daemon that prints only warnings.

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = typeof LOG_LEVELS[number]
export const LOG_FORMATS = ['json', 'logfmt'] as const
export type LogFormat = typeof LOG_FORMATS[number]

export type LogFields = Record<string, unknown>

export interface LogRecord extends LogFields {
  time: string
  level: LogLevel
  msg: string
}

export interface Logger {
  debug: (msg: string, fields?: LogFields) => void
  info: (msg: string, fields?: LogFields) => void
  warn: (msg: string, fields?: LogFields) => void
  error: (msg: string, fields?: LogFields) => void
  /** A logger that adds `fields` to every record (e.g. `{component: 'socket'}`). */
  child: (fields: LogFields) => Logger
  /** Receive every record at `level` or above; returns the unsubscribe function. */
  subscribe: (level: LogLevel, onRecord: (record: LogRecord) => void) => () => void
}

export interface LoggerOptions {
  level: LogLevel
  format: LogFormat
  /** Where finished lines go (default: process.stderr). */
  write?: (line: string) => void
  /** Injected clock for deterministic tests. */
  now?: () => Date
}

export function levelRank (level: LogLevel): number {
  return LOG_LEVELS.indexOf(level)
}

// Errors do not survive JSON.stringify; keep their message and code.
function plain (value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code
    return code === undefined ? { message: value.message } : { message: value.message, code }
  }
  if (typeof value === 'bigint') return value.toString()
  return value
}

function logfmtValue (value: unknown): string {
  const v = plain(value)
  const text = typeof v === 'string' ? v : JSON.stringify(v) ?? 'undefined'
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text)
}

export function formatRecord (record: LogRecord, format: LogFormat): string {
  if (format === 'json') {
    return JSON.stringify(record, (_key, value: unknown) => plain(value))
  }
  return Object.entries(record).map(([k, v]) => `${k}=${logfmtValue(v)}`).join(' ')
}

interface Subscriber { rank: number, onRecord: (record: LogRecord) => void }

export function createLogger (opts: LoggerOptions): Logger {
  const write = opts.write ?? ((line: string) => { process.stderr.write(line + '\n') })
  const now = opts.now ?? (() => new Date())
  const minRank = levelRank(opts.level)
  const subscribers = new Set<Subscriber>()

  function emit (level: LogLevel, msg: string, fields: LogFields): void {
    const rank = levelRank(level)
    const wanted = rank >= minRank
    if (!wanted && subscribers.size === 0) return
    const record: LogRecord = { time: now().toISOString(), level, msg, ...fields }
    if (wanted) write(formatRecord(record, opts.format))
    for (const s of subscribers) {
      if (rank >= s.rank) {
        // A failing subscriber must never break logging for the daemon.
        try { s.onRecord(record) } catch { subscribers.delete(s) }
      }
    }
  }

  function make (bound: LogFields): Logger {
    return {
      debug: (msg, fields) => { emit('debug', msg, { ...bound, ...fields }) },
      info: (msg, fields) => { emit('info', msg, { ...bound, ...fields }) },
      warn: (msg, fields) => { emit('warn', msg, { ...bound, ...fields }) },
      error: (msg, fields) => { emit('error', msg, { ...bound, ...fields }) },
      child: (fields) => make({ ...bound, ...fields }),
      subscribe: (level, onRecord) => {
        const s: Subscriber = { rank: levelRank(level), onRecord }
        subscribers.add(s)
        return () => { subscribers.delete(s) }
      }
    }
  }
  return make({})
}
