// Client side of the status socket, used by the CLI and by tests.
import { createConnection, type Socket } from 'node:net'
import type { SocketResponse, WireError } from './protocol.js'

export class AgentNotRunningError extends Error {
  readonly code = 'ERR_NO_AGENT'
  constructor (readonly socketPath: string, readonly reason: string) {
    super(`no agent is running on ${socketPath} (${reason})`)
    this.name = 'AgentNotRunningError'
  }
}

/** The agent answered with {ok:false}; `code` is the agent's error code. */
export class AgentCommandError extends Error {
  constructor (readonly code: string, message: string) {
    super(message)
    this.name = 'AgentCommandError'
  }
}

export class AgentTimeoutError extends Error {
  readonly code = 'ERR_TIMEOUT'
  constructor (message: string) {
    super(message)
    this.name = 'AgentTimeoutError'
  }
}

const NOT_RUNNING = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK', 'ENOTDIR'])

async function connect (socketPath: string, timeoutMs: number): Promise<Socket> {
  return await new Promise((resolve, reject) => {
    const sock = createConnection(socketPath)
    const timer = setTimeout(() => {
      sock.destroy()
      reject(new AgentTimeoutError(`connecting to ${socketPath} timed out after ${timeoutMs} ms`))
    }, timeoutMs)
    sock.once('connect', () => { clearTimeout(timer); sock.removeAllListeners('error'); resolve(sock) })
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      reject(NOT_RUNNING.has(err.code ?? '') ? new AgentNotRunningError(socketPath, err.code ?? err.message) : err)
    })
  })
}

/** Reads newline-delimited JSON from a socket, one parsed value per call of `onLine`. */
function readLines (sock: Socket, onLine: (value: SocketResponse) => void, onError: (err: Error) => void): void {
  let buf = ''
  sock.setEncoding('utf8')
  sock.on('data', (chunk: string) => {
    buf += chunk
    let nl: number
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (line.trim() === '') continue
      try {
        onLine(JSON.parse(line) as SocketResponse)
      } catch (err) {
        onError(new Error(`agent sent a line that is not JSON: ${(err as Error).message}`))
        return
      }
    }
  })
}

function commandError (error: WireError): AgentCommandError {
  return new AgentCommandError(error.code, error.message)
}

/** Sends one request and returns its `result`; throws AgentCommandError on {ok:false}. */
export async function callAgent (socketPath: string, cmd: string, args: Record<string, unknown> = {}, opts: { timeoutMs?: number } = {}): Promise<unknown> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  const sock = await connect(socketPath, timeoutMs)
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new AgentTimeoutError(`${cmd}: no answer within ${timeoutMs} ms`)) }, timeoutMs)
      const done = (fn: () => void): void => { clearTimeout(timer); fn() }
      readLines(sock, resp => {
        if (resp.ok) done(() => { resolve('result' in resp ? resp.result : undefined) })
        else done(() => { reject(commandError(resp.error)) })
      }, err => { done(() => { reject(err) }) })
      sock.once('error', err => { done(() => { reject(err) }) })
      sock.once('close', () => { done(() => { reject(new Error(`${cmd}: agent closed the connection without answering`)) }) })
      sock.write(JSON.stringify({ cmd, args }) + '\n')
    })
  } finally {
    sock.destroy()
  }
}

/**
 * Runs a streaming command, calling `onEvent` per event, until the agent ends the
 * stream, the connection drops, or `signal` aborts (which resolves normally).
 */
export async function streamAgent (
  socketPath: string,
  cmd: string,
  args: Record<string, unknown>,
  onEvent: (event: unknown) => void,
  opts: { signal?: AbortSignal, connectTimeoutMs?: number } = {}
): Promise<void> {
  const sock = await connect(socketPath, opts.connectTimeoutMs ?? 10_000)
  try {
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { resolve() }
      if (opts.signal?.aborted === true) { resolve(); return }
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      readLines(sock, resp => {
        if (!resp.ok) { reject(commandError(resp.error)); return }
        if ('event' in resp) onEvent(resp.event)
        else if ('end' in resp) resolve()
        else if ('result' in resp) resolve()
      }, reject)
      sock.once('error', reject)
      sock.once('close', () => { resolve() })
      sock.write(JSON.stringify({ cmd, args }) + '\n')
    })
  } finally {
    sock.destroy()
  }
}
