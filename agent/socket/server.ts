// The status socket server: a unix socket (mode 0600) speaking newline-delimited
// JSON (see protocol.ts). Bad input of any kind gets an error line; nothing a
// client sends can take the daemon down. Requests on a connection run one at a
// time, in order, and reading pauses while a backlog is waiting (back-pressure).
import { createServer, createConnection, type Server, type Socket } from 'node:net'
import { lstat, unlink, chmod } from 'node:fs/promises'
import type { Logger } from '../log.js'
import type { CommandRegistry } from './registry.js'
import { MAX_REQUEST_BYTES, SocketErrorCode, parseRequest, toWireError, type SocketResponse } from './protocol.js'

export class SocketInUseError extends Error {
  readonly code = 'ERR_SOCKET_IN_USE'
  constructor (readonly socketPath: string) {
    super(`an agent is already answering on ${socketPath}`)
    this.name = 'SocketInUseError'
  }
}

export interface SocketServerOptions {
  path: string
  registry: CommandRegistry
  log: Logger
  maxRequestBytes?: number
  maxConnections?: number
}

const MAX_QUEUED_PER_CONNECTION = 32
// A streaming client this far behind is cut off rather than buffered without bound.
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024

/** True when something accepts connections at `path` (within `timeoutMs`). */
export async function socketAnswers (path: string, timeoutMs = 1000): Promise<boolean> {
  return await new Promise(resolve => {
    const sock = createConnection(path)
    const timer = setTimeout(() => { sock.destroy(); resolve(false) }, timeoutMs)
    sock.once('connect', () => { clearTimeout(timer); sock.destroy(); resolve(true) })
    sock.once('error', () => { clearTimeout(timer); resolve(false) })
  })
}

export class StatusSocketServer {
  private server: Server | undefined
  private readonly connections = new Set<Socket>()
  private readonly aborts = new Set<AbortController>()
  private ino: number | undefined
  private readonly maxRequestBytes: number
  private readonly maxConnections: number

  constructor (private readonly opts: SocketServerOptions) {
    this.maxRequestBytes = opts.maxRequestBytes ?? MAX_REQUEST_BYTES
    this.maxConnections = opts.maxConnections ?? 64
  }

  /**
   * Binds the socket. A leftover file at the path (a dead agent's socket, or any
   * regular file) is removed when nothing answers on it; a live agent is refused.
   * Returns whether a stale file was replaced.
   */
  async start (): Promise<{ replacedStale: boolean }> {
    const { path } = this.opts
    let replacedStale = false
    const existing = await lstat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined
      throw err
    })
    if (existing !== undefined) {
      if (existing.isDirectory()) throw new Error(`${path} is a directory, not a socket`)
      if (await socketAnswers(path)) throw new SocketInUseError(path)
      await unlink(path)
      replacedStale = true
    }
    const server = createServer(sock => { this.accept(sock) })
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(path, () => { server.off('error', reject); resolve() })
    })
    server.on('error', err => { this.opts.log.error('status socket error', { err }) })
    // The data dir is 0700 already; 0600 on the socket keeps it private even if
    // the directory mode is loosened later.
    await chmod(path, 0o600)
    this.ino = (await lstat(path)).ino
    return { replacedStale }
  }

  async stop (): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    for (const a of this.aborts) a.abort()
    for (const c of this.connections) c.destroy()
    await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    // Remove the socket file only if it is still the one we bound.
    try {
      if ((await lstat(this.opts.path)).ino === this.ino) await unlink(this.opts.path)
    } catch { /* already gone */ }
  }

  private accept (sock: Socket): void {
    if (this.connections.size >= this.maxConnections) {
      sock.end(JSON.stringify({ ok: false, error: { code: SocketErrorCode.busy, message: 'too many open connections' } }) + '\n')
      return
    }
    this.connections.add(sock)
    const abort = new AbortController()
    this.aborts.add(abort)
    const queue: Array<() => Promise<void>> = []
    let running = false
    let pending: Buffer[] = []
    let pendingBytes = 0
    let discarding = false
    let closed = false

    const send = (resp: SocketResponse): void => {
      if (closed) throw new Error('client disconnected')
      if (sock.writableLength > MAX_BUFFERED_BYTES) {
        sock.destroy()
        throw new Error('client is not reading its responses')
      }
      sock.write(JSON.stringify(resp) + '\n')
    }
    const sendSafely = (resp: SocketResponse): void => {
      try { send(resp) } catch { /* the client left; nothing to tell it */ }
    }

    const pump = async (): Promise<void> => {
      if (running) return
      running = true
      while (queue.length > 0 && !closed) {
        const job = queue.shift() as () => Promise<void>
        await job()
        if (queue.length < MAX_QUEUED_PER_CONNECTION / 2 && sock.isPaused()) sock.resume()
      }
      running = false
    }
    const enqueue = (job: () => Promise<void>): void => {
      queue.push(job)
      if (queue.length >= MAX_QUEUED_PER_CONNECTION) sock.pause()
      void pump()
    }
    const tooLarge = (): void => {
      enqueue(async () => { sendSafely({ ok: false, error: { code: SocketErrorCode.tooLarge, message: `request exceeds ${this.maxRequestBytes} bytes` } }) })
    }

    sock.on('data', (chunk: Buffer) => {
      let start = 0
      while (start <= chunk.length) {
        const nl = chunk.indexOf(10, start)
        if (nl === -1) {
          const rest = chunk.subarray(start)
          if (!discarding && rest.length > 0) {
            if (pendingBytes + rest.length > this.maxRequestBytes) {
              // Answer now, then skip everything up to the next newline.
              discarding = true
              pending = []
              pendingBytes = 0
              tooLarge()
            } else {
              pending.push(rest)
              pendingBytes += rest.length
            }
          }
          break
        }
        const piece = chunk.subarray(start, nl)
        if (discarding) {
          discarding = false
        } else if (pendingBytes + piece.length > this.maxRequestBytes) {
          tooLarge()
        } else {
          const line = Buffer.concat([...pending, piece]).toString('utf8').trim()
          if (line !== '') enqueue(async () => { await this.handleLine(line, send, sendSafely, abort.signal) })
        }
        pending = []
        pendingBytes = 0
        start = nl + 1
      }
    })
    const finish = (): void => {
      if (closed) return
      closed = true
      abort.abort()
      this.aborts.delete(abort)
      this.connections.delete(sock)
    }
    sock.on('close', finish)
    sock.on('error', () => { finish() })
  }

  private async handleLine (
    line: string,
    send: (r: SocketResponse) => void,
    sendSafely: (r: SocketResponse) => void,
    signal: AbortSignal
  ): Promise<void> {
    let cmd = '?'
    try {
      const request = parseRequest(line)
      cmd = request.cmd
      const { command, args } = this.opts.registry.resolve(request.cmd, request.args)
      this.opts.log.debug('socket request', { cmd })
      if (command.stream === true) {
        await command.handler(args, { signal, emit: event => { send({ ok: true, event }) } })
        sendSafely({ ok: true, end: true })
      } else {
        const result = await command.handler(args, { signal })
        send({ ok: true, result: result ?? null })
      }
    } catch (err) {
      const error = toWireError(err)
      if (error.code === SocketErrorCode.internal) this.opts.log.warn('socket command failed', { cmd, err })
      sendSafely({ ok: false, error })
    }
  }
}
