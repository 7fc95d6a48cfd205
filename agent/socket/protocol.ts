// The status socket's wire format: newline-delimited JSON.
//   request:          {"cmd": "status", "args": {...}}        one per line
//   response:         {"ok": true, "result": ...} | {"ok": false, "error": {"code", "message"}}
//   streaming reply:  {"ok": true, "event": ...} per line, then {"ok": true, "end": true}
// Requests on one connection are answered in order.

export const MAX_REQUEST_BYTES = 64 * 1024

export const SocketErrorCode = {
  malformed: 'ERR_MALFORMED_REQUEST',
  tooLarge: 'ERR_REQUEST_TOO_LARGE',
  unknownCommand: 'ERR_UNKNOWN_COMMAND',
  badArgs: 'ERR_BAD_ARGS',
  busy: 'ERR_BUSY',
  internal: 'ERR_INTERNAL'
} as const

export interface SocketRequest { cmd: string, args: Record<string, unknown> }

export interface WireError { code: string, message: string }

export type SocketResponse =
  | { ok: true, result: unknown }
  | { ok: true, event: unknown }
  | { ok: true, end: true }
  | { ok: false, error: WireError }

/** An error a command handler throws to send a specific code to the client. */
export class CommandError extends Error {
  constructor (readonly code: string, message: string) {
    super(message)
    this.name = 'CommandError'
  }
}

/** Parses one request line; throws CommandError with a precise reason. */
export function parseRequest (line: string): SocketRequest {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch (err) {
    throw new CommandError(SocketErrorCode.malformed, `request is not valid JSON: ${(err as Error).message}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CommandError(SocketErrorCode.malformed, 'request must be a JSON object {"cmd", "args"}')
  }
  const obj = value as Record<string, unknown>
  if (typeof obj.cmd !== 'string' || obj.cmd === '') {
    throw new CommandError(SocketErrorCode.malformed, 'request needs a "cmd" string')
  }
  const args = obj.args ?? {}
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    throw new CommandError(SocketErrorCode.malformed, '"args" must be a JSON object')
  }
  for (const key of Object.keys(obj)) {
    if (key !== 'cmd' && key !== 'args') throw new CommandError(SocketErrorCode.malformed, `unexpected request field "${key}"`)
  }
  return { cmd: obj.cmd, args: args as Record<string, unknown> }
}

/** Maps anything a handler threw to the error the client sees. */
export function toWireError (err: unknown): WireError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return { code: typeof code === 'string' && code !== '' ? code : SocketErrorCode.internal, message: err.message }
  }
  return { code: SocketErrorCode.internal, message: String(err) }
}
