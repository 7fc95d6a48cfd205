// A generic one-request/one-response protocol over a libp2p stream.
//
// Wire format (both directions length-prefixed with an unsigned varint, lpStream):
//   request  := bytes
//   response := 0x00 payload            success
//             | 0x01 utf8(code "\n" message)   handler error, a typed code for the client
// The client closes its write side after the request, the server closes after the
// response. Handler failures become error frames rather than stream resets so the
// client can tell "the peer refused" from "the peer died".
import { lpStream } from '@libp2p/utils'
import type { Connection, PeerId, Stream, StreamHandlerOptions, AbortOptions } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { HandlerError, ProtocolError, toProtocolError } from './errors.js'

/** The part of a libp2p node the stream protocols need; a RingleaderNode fits. */
export interface StreamNode {
  handle: (protocol: string, handler: (stream: Stream, connection: Connection) => void | Promise<void>, options?: StreamHandlerOptions) => Promise<void>
  unhandle: (protocol: string, options?: AbortOptions) => Promise<void>
  dialProtocol: (peer: PeerId | Multiaddr, protocols: string, options?: AbortOptions) => Promise<Stream>
}

export type RequestHandler = (request: Uint8Array, from: PeerId) => Promise<Uint8Array>

export interface RequestResponseLimits {
  /** Largest request accepted, in bytes (default 1 MiB). */
  maxRequestBytes?: number
  /** Largest response payload sent or accepted, in bytes (default 4 MiB). */
  maxResponseBytes?: number
  /** Deadline for one whole exchange, in ms (default 5000). */
  timeoutMs?: number
}

export interface ServeOptions extends RequestResponseLimits {
  /** Concurrent inbound streams per connection, enforced by libp2p (default 16). */
  maxInboundStreams?: number
  /** Concurrent requests across all connections; above it the reply is `busy` (default 64). */
  maxConcurrent?: number
}

export interface ServerStats {
  served: number
  handlerErrors: number
  badFrames: number
  oversize: number
  timeouts: number
  busy: number
  eof: number
}

export interface RequestResponseServer {
  readonly protocol: string
  readonly stats: Readonly<ServerStats>
  stop: () => Promise<void>
}

export const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024
export const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
export const DEFAULT_TIMEOUT_MS = 5000

const STATUS_OK = 0
const STATUS_ERROR = 1
const ERROR_CODE_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/
const MAX_ERROR_MESSAGE_BYTES = 1024

/** `/ringleader/<name>/1.0.0`; the name is validated so a typo cannot open an odd protocol. */
export function protocolId (name: string): string {
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(name)) throw new TypeError(`bad protocol name ${JSON.stringify(name)}`)
  return `/ringleader/${name}/1.0.0`
}

export function encodeErrorFrame (code: string, message: string): Uint8Array {
  const safeCode = ERROR_CODE_PATTERN.test(code) ? code : 'internal'
  const text = new TextEncoder().encode(`${safeCode}\n${message}`).subarray(0, MAX_ERROR_MESSAGE_BYTES + 66)
  const frame = new Uint8Array(1 + text.byteLength)
  frame[0] = STATUS_ERROR
  frame.set(text, 1)
  return frame
}

export function encodeOkFrame (payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(1 + payload.byteLength)
  frame[0] = STATUS_OK
  frame.set(payload, 1)
  return frame
}

/** Parses a response frame; returns the payload or throws the typed error it carries. */
export function decodeResponseFrame (frame: Uint8Array, context: string): Uint8Array {
  if (frame.byteLength === 0) throw new ProtocolError('bad-frame', `${context}: empty response frame`)
  if (frame[0] === STATUS_OK) return frame.subarray(1)
  if (frame[0] !== STATUS_ERROR) throw new ProtocolError('bad-frame', `${context}: unknown response status ${frame[0]}`)
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(frame.subarray(1))
  } catch {
    throw new ProtocolError('bad-frame', `${context}: error frame is not UTF-8`)
  }
  const newline = text.indexOf('\n')
  const code = newline < 0 ? text : text.slice(0, newline)
  const message = newline < 0 ? '' : text.slice(newline + 1)
  if (!ERROR_CODE_PATTERN.test(code)) throw new ProtocolError('bad-frame', `${context}: malformed error code`)
  if (code === 'busy') throw new ProtocolError('busy', `${context}: peer busy: ${message}`, { remoteCode: code })
  throw new ProtocolError('remote-error', `${context}: remote ${code}: ${message}`, { remoteCode: code })
}

/** Deadline signal for one exchange, combined with the caller's signal. */
export function exchangeSignal (timeoutMs: number, caller?: AbortSignal): { signal: AbortSignal, timeout: AbortSignal } {
  const timeout = AbortSignal.timeout(timeoutMs)
  return { signal: caller != null ? AbortSignal.any([timeout, caller]) : timeout, timeout }
}

/** Opens a stream and maps every dial failure to `dial-failed`, `timeout` or `aborted`. */
export async function openStream (node: StreamNode, peer: PeerId | Multiaddr, protocol: string, signals: { signal: AbortSignal, timeout: AbortSignal, caller?: AbortSignal }): Promise<Stream> {
  try {
    return await node.dialProtocol(peer, protocol, { signal: signals.signal })
  } catch (err) {
    const mapped = toProtocolError(err, `${protocol} dial ${peer.toString()}`, signals)
    if (mapped.code === 'timeout' || mapped.code === 'aborted') throw mapped
    throw new ProtocolError('dial-failed', mapped.message, { cause: err })
  }
}

export async function serveRequestResponse (node: StreamNode, protocol: string, handler: RequestHandler, opts: ServeOptions = {}): Promise<RequestResponseServer> {
  const maxRequestBytes = opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES
  const maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const maxConcurrent = opts.maxConcurrent ?? 64
  const stats: ServerStats = { served: 0, handlerErrors: 0, badFrames: 0, oversize: 0, timeouts: 0, busy: 0, eof: 0 }
  let active = 0

  const count = (err: ProtocolError): void => {
    if (err.code === 'oversize') stats.oversize++
    else if (err.code === 'bad-frame') stats.badFrames++
    else if (err.code === 'timeout' || err.code === 'aborted') stats.timeouts++
    else stats.eof++
  }

  const onStream = async (stream: Stream, connection: Connection): Promise<void> => {
    const signals = exchangeSignal(timeoutMs)
    const lp = lpStream(stream, { maxDataLength: maxRequestBytes })
    const reply = async (frame: Uint8Array): Promise<void> => {
      await lp.write(frame, { signal: signals.signal })
      await stream.close({ signal: signals.signal })
    }
    if (active >= maxConcurrent) {
      stats.busy++
      await reply(encodeErrorFrame('busy', `${active} requests in progress`)).catch(() => { stream.abort(new Error('busy')) })
      return
    }
    active++
    try {
      let request: Uint8Array
      try {
        request = (await lp.read({ signal: signals.signal })).subarray()
      } catch (err) {
        const mapped = toProtocolError(err, 'read request', { timeout: signals.timeout })
        count(mapped)
        // Tell a well-meaning client why; a hostile one just gets the stream closed.
        if (mapped.code === 'oversize' || mapped.code === 'bad-frame') {
          await reply(encodeErrorFrame(mapped.code === 'oversize' ? 'request-too-large' : 'bad-frame', mapped.message)).catch(() => {})
        }
        stream.abort(mapped)
        return
      }
      let frame: Uint8Array
      try {
        const response = await handler(request, connection.remotePeer)
        if (!(response instanceof Uint8Array)) throw new HandlerError('internal', 'handler returned no bytes')
        if (response.byteLength > maxResponseBytes) {
          stats.oversize++
          frame = encodeErrorFrame('response-too-large', `response of ${response.byteLength} bytes exceeds ${maxResponseBytes}`)
        } else {
          frame = encodeOkFrame(response)
        }
      } catch (err) {
        stats.handlerErrors++
        const code = err instanceof HandlerError ? err.code : 'handler-failed'
        frame = encodeErrorFrame(code, err instanceof Error ? err.message : String(err))
      }
      try {
        await reply(frame)
        stats.served++
      } catch (err) {
        count(toProtocolError(err, 'write response', { timeout: signals.timeout }))
        stream.abort(err instanceof Error ? err : new Error(String(err)))
      }
    } finally {
      active--
    }
  }

  await node.handle(protocol, (stream, connection) => {
    // Never let a rejected promise escape into libp2p.
    onStream(stream, connection).catch(() => { stream.abort(new Error('request handler failed')) })
  }, { maxInboundStreams: opts.maxInboundStreams ?? 16, maxOutboundStreams: 64 })

  return {
    protocol,
    stats,
    stop: async () => { await node.unhandle(protocol) }
  }
}

export interface RequestOptions extends RequestResponseLimits {
  signal?: AbortSignal
}

/** Sends one request and returns the response payload; all failures are ProtocolErrors. */
export async function sendRequest (node: StreamNode, peer: PeerId | Multiaddr, protocol: string, request: Uint8Array, opts: RequestOptions = {}): Promise<Uint8Array> {
  const maxRequestBytes = opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES
  const maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES
  const context = `${protocol} to ${peer.toString()}`
  if (request.byteLength > maxRequestBytes) {
    throw new ProtocolError('oversize', `${context}: request of ${request.byteLength} bytes exceeds ${maxRequestBytes}`)
  }
  const { signal, timeout } = exchangeSignal(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, opts.signal)
  const signals = { signal, timeout, caller: opts.signal }
  const stream = await openStream(node, peer, protocol, signals)
  try {
    // +1 for the status byte in front of the payload.
    const lp = lpStream(stream, { maxDataLength: maxResponseBytes + 1 })
    await lp.write(request, { signal })
    await stream.close({ signal })
    const frame = await lp.read({ signal })
    return decodeResponseFrame(frame.subarray(), context)
  } catch (err) {
    const mapped = toProtocolError(err, context, signals)
    stream.abort(mapped)
    throw mapped
  }
}
