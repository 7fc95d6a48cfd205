// /ringleader/blob/1.0.0: read a byte range of a content-addressed blob from a peer.
//
//   request  := lp( cbor {cid: string, offset: uint, length: uint} )
//   response := lp( 0x00 cbor {size: uint, length: uint} ) lp(bytes)* (chunks summing to length)
//             | lp( 0x01 code "\n" message )   code ∈ not-found | bad-range | busy | bad-request | internal
//
// The server streams chunks with back-pressure (lpStream.write waits for 'drain'
// when send() reports a full buffer). The client checks the header and the exact
// byte count; whether the bytes are *right* is decided by the caller's hash check.
import { lpStream } from '@libp2p/utils'
import { encode as cborEncode, decode as cborDecode } from 'cbor-x'
import type { PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { ProtocolError, toProtocolError } from './errors.js'
import { decodeResponseFrame, encodeErrorFrame, encodeOkFrame, exchangeSignal, openStream, type StreamNode } from './request-response.js'
import type { ByteRateLimiter } from './rate-limit.js'

export const BLOB_PROTOCOL = '/ringleader/blob/1.0.0'
export const DEFAULT_MAX_RANGE_BYTES = 4 * 1024 * 1024
// One chunk frame = varint(3) + data must fit one yamux frame inside one noise
// message (65535 − 16 tag − 12 yamux header); 64 KiB would split every frame in two.
const FRAME_BYTES = 65_496
const SOURCE_READ_BYTES = 256 * 1024
const MAX_REQUEST_BYTES = 512
const MAX_HEADER_BYTES = 256

/** What the server reads from; the blob store fits (`cid` is the CID's string form). */
export interface BlobSource {
  has: (cid: string) => boolean | Promise<boolean>
  size: (cid: string) => number | Promise<number>
  readRange: (cid: string, offset: number, length: number) => Promise<Uint8Array>
}

export interface BlobRangeRequest {
  cid: string
  offset: number
  length: number
  /** false: the fetcher will ask us for nothing more, so its upload slot may go at once. */
  more?: boolean
}

const CID_PATTERN = /^[a-zA-Z0-9]{8,128}$/

function isUint (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

export function encodeRangeRequest (req: BlobRangeRequest): Uint8Array {
  return cborEncode(req.more === undefined ? { cid: req.cid, offset: req.offset, length: req.length } : { cid: req.cid, offset: req.offset, length: req.length, more: req.more })
}

/** Validates a decoded request; returns undefined for anything malformed. */
export function parseRangeRequest (bytes: Uint8Array): BlobRangeRequest | undefined {
  let value: unknown
  try { value = cborDecode(bytes) } catch { return undefined }
  if (typeof value !== 'object' || value === null) return undefined
  const { cid, offset, length, more } = value as Record<string, unknown>
  if (typeof cid !== 'string' || !CID_PATTERN.test(cid) || !isUint(offset) || !isUint(length)) return undefined
  if (more !== undefined && typeof more !== 'boolean') return undefined
  return more === undefined ? { cid, offset, length } : { cid, offset, length, more }
}

export interface BlobServerOptions {
  maxRangeBytes?: number
  /** Concurrent uploads across all peers; above it the answer is `busy` (default 16). */
  maxConcurrentUploads?: number
  /**
   * Peers served at once (upload slots, like BitTorrent's unchoke slots; default 2).
   * A peer keeps its slot while it has a range in flight (and `slotLingerMs` after). Few slots make the first
   * fetchers finish early and start serving, which is what turns a star into a swarm.
   */
  maxUploadPeers?: number
  /**
   * How long a request from a peer without a slot waits in line for one before the
   * answer is `busy` (default 0: refuse at once). Waiting in line hands a freed slot
   * over without polling, but ties the fetcher's chunk to this holder meanwhile; in
   * bench/blob-swarm an immediate `busy` plus the fetcher's backoff did better.
   */
  slotWaitMs?: number
  /** A peer keeps its slot this long after its last range ends, unless it got a whole blob's worth (default 300 ms). */
  slotLingerMs?: number
  /** Requests waiting for a slot at most (default 64); beyond it, `busy` at once. */
  maxWaiting?: number
  /** Deadline for one whole range upload (default 30 s). */
  timeoutMs?: number
  /** Per connection, enforced by libp2p (default 8). */
  maxInboundStreams?: number
  /** Shared upload budget (optional). */
  uploadLimiter?: ByteRateLimiter
}

export interface BlobServerStats {
  served: number
  bytesServed: number
  notFound: number
  badRange: number
  badRequests: number
  busy: number
  failed: number
}

export interface BlobServer {
  readonly stats: Readonly<BlobServerStats>
  /** Uploads in progress right now. */
  readonly active: number
  stop: () => Promise<void>
}

export async function serveBlobs (node: StreamNode, source: BlobSource, opts: BlobServerOptions = {}): Promise<BlobServer> {
  const maxRange = opts.maxRangeBytes ?? DEFAULT_MAX_RANGE_BYTES
  const maxUploads = opts.maxConcurrentUploads ?? 16
  const timeoutMs = opts.timeoutMs ?? 30_000
  const stats: BlobServerStats = { served: 0, bytesServed: 0, notFound: 0, badRange: 0, badRequests: 0, busy: 0, failed: 0 }
  let active = 0
  const maxPeers = opts.maxUploadPeers ?? 2
  const slotWaitMs = opts.slotWaitMs ?? 0
  const maxWaiting = opts.maxWaiting ?? 64
  const slotLingerMs = opts.slotLingerMs ?? 300
  // A peer holds its slot for a session: while it has ranges in flight, and for
  // `slotLingerMs` after its last one unless it has by then been sent a whole
  // blob's worth of bytes (it needs nothing more from us).
  interface Session { active: number, sent: number, size: number, timer?: NodeJS.Timeout }
  const slots = new Map<string, Session>()
  const waiting: Array<{ peer: string, grant: () => void }> = []
  const join = (peer: string): void => {
    const session = slots.get(peer)
    if (session === undefined) { slots.set(peer, { active: 1, sent: 0, size: Infinity }); return }
    if (session.timer !== undefined) { clearTimeout(session.timer); session.timer = undefined }
    session.active++
  }
  const grantWaiting = (): void => {
    for (let i = 0; i < waiting.length;) {
      const w = waiting[i]
      if (!slots.has(w.peer) && slots.size >= maxPeers) { i++; continue }
      join(w.peer)
      waiting.splice(i, 1)
      w.grant()
    }
  }
  const takeSlot = async (peer: string, signal: AbortSignal): Promise<boolean> => {
    if (slots.has(peer) || (slots.size < maxPeers && waiting.length === 0)) { join(peer); return true }
    if (waiting.length >= maxWaiting || slotWaitMs <= 0) return false
    return await new Promise<boolean>((resolve) => {
      const entry = { peer, grant: () => { clearTimeout(timer); signal.removeEventListener('abort', giveUp); resolve(true) } }
      const giveUp = (): void => {
        clearTimeout(timer)
        const at = waiting.indexOf(entry)
        if (at >= 0) waiting.splice(at, 1)
        resolve(false)
      }
      const timer = setTimeout(giveUp, slotWaitMs)
      signal.addEventListener('abort', giveUp, { once: true })
      waiting.push(entry)
    })
  }
  const endSession = (peer: string): void => { slots.delete(peer); grantWaiting() }
  const releaseSlot = (peer: string, sent: number, size: number, more: boolean): void => {
    const session = slots.get(peer)
    if (session === undefined) return
    session.active--
    session.sent += sent
    session.size = size
    if (session.active > 0) return
    if (session.sent >= session.size || !more) { endSession(peer); return }
    // Keep the slot for the peer's next chunk request: handing it on after every
    // chunk would make all fetchers progress evenly and none finish (and start
    // serving) early.
    session.timer = setTimeout(() => { if (slots.get(peer)?.active === 0) endSession(peer) }, slotLingerMs)
    session.timer.unref()
  }

  const upload = async (stream: Stream, peer: string): Promise<void> => {
    const { signal } = exchangeSignal(timeoutMs)
    const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
    const refuse = async (code: string, message: string): Promise<void> => {
      await lp.write(encodeErrorFrame(code, message), { signal })
      await stream.close({ signal })
    }
    const req = parseRangeRequest((await lp.read({ signal })).subarray())
    if (req === undefined) { stats.badRequests++; await refuse('bad-request', 'malformed range request'); return }
    if (req.length === 0) {
      // A size probe: costs no upload, so it needs no slot and is never `busy`.
      if (!await source.has(req.cid)) { stats.notFound++; await refuse('not-found', `no blob ${req.cid}`); return }
      const size = await source.size(req.cid)
      if (req.offset > size) { stats.badRange++; await refuse('bad-range', `offset ${req.offset} beyond blob of ${size} bytes`); return }
      await lp.write(encodeOkFrame(cborEncode({ size, length: 0 })), { signal })
      await stream.close({ signal })
      stats.served++
      return
    }
    if (active >= maxUploads) { stats.busy++; await refuse('busy', `${active} uploads in progress`); return }
    if (!await takeSlot(peer, signal)) { stats.busy++; await refuse('busy', `serving ${slots.size} peers`); return }
    active++
    let sent = 0
    let size = Infinity
    try {
      if (!await source.has(req.cid)) { stats.notFound++; await refuse('not-found', `no blob ${req.cid}`); return }
      size = await source.size(req.cid)
      if (req.length > maxRange || req.offset + req.length > size) {
        stats.badRange++
        await refuse('bad-range', `range ${req.offset}+${req.length} outside blob of ${size} bytes or above ${maxRange}`)
        return
      }
      await lp.write(encodeOkFrame(cborEncode({ size, length: req.length })), { signal })
      while (sent < req.length) {
        const piece = await source.readRange(req.cid, req.offset + sent, Math.min(SOURCE_READ_BYTES, req.length - sent))
        if (piece.byteLength === 0) throw new Error('blob source returned no bytes')
        for (let at = 0; at < piece.byteLength; at += FRAME_BYTES) {
          const frame = piece.subarray(at, Math.min(at + FRAME_BYTES, piece.byteLength))
          await opts.uploadLimiter?.take(frame.byteLength, signal)
          await lp.write(frame, { signal })
        }
        sent += piece.byteLength
      }
      await stream.close({ signal })
      stats.served++
      stats.bytesServed += sent
    } finally {
      active--
      releaseSlot(peer, sent, size, req.more !== false)
    }
  }

  await node.handle(BLOB_PROTOCOL, (stream, connection) => {
    upload(stream, connection.remotePeer.toString()).catch((err: unknown) => {
      stats.failed++
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    })
  }, { maxInboundStreams: opts.maxInboundStreams ?? 8, maxOutboundStreams: 64 })

  return {
    stats,
    get active () { return active },
    stop: async () => { await node.unhandle(BLOB_PROTOCOL) }
  }
}

export interface FetchRangeOptions {
  /** Deadline for the whole range (default 30 s). */
  timeoutMs?: number
  /** If given, a header announcing another blob size is an error. */
  expectedSize?: number
  /** Tell the server whether more requests will follow (frees our upload slot early). */
  more?: boolean
}

/**
 * Fetches `length` bytes at `offset` of blob `cid` from `peer`. Throws ProtocolError:
 * not-found, bad-range, busy, bad-frame, bad-length, eof (peer died), timeout, aborted, dial-failed.
 */
export async function fetchRange (node: StreamNode, peer: PeerId | Multiaddr, cid: string, offset: number, length: number, signal?: AbortSignal, opts: FetchRangeOptions = {}): Promise<Uint8Array> {
  const context = `blob ${cid} ${offset}+${length} from ${peer.toString()}`
  if (!CID_PATTERN.test(cid) || !isUint(offset) || !isUint(length)) throw new ProtocolError('bad-range', `${context}: invalid arguments`)
  const signals = { ...exchangeSignal(opts.timeoutMs ?? 30_000, signal), caller: signal }
  const stream = await openStream(node, peer, BLOB_PROTOCOL, signals)
  try {
    const lp = lpStream(stream, { maxDataLength: Math.max(FRAME_BYTES, MAX_HEADER_BYTES) })
    await lp.write(encodeRangeRequest(opts.more === undefined ? { cid, offset, length } : { cid, offset, length, more: opts.more }), { signal: signals.signal })
    await stream.close({ signal: signals.signal })
    const header = parseHeader(await lp.read({ signal: signals.signal }), context)
    if (header.length !== length) throw new ProtocolError('bad-length', `${context}: peer announced ${header.length} bytes`)
    if (header.size < offset + length) throw new ProtocolError('bad-length', `${context}: peer announced blob size ${header.size}`)
    if (opts.expectedSize !== undefined && header.size !== opts.expectedSize) throw new ProtocolError('bad-length', `${context}: blob size ${header.size}, expected ${opts.expectedSize}`)
    const out = new Uint8Array(length)
    let got = 0
    while (got < length) {
      const frame = await lp.read({ signal: signals.signal })
      if (frame.byteLength === 0 || got + frame.byteLength > length) throw new ProtocolError('bad-length', `${context}: peer sent a frame past the announced length`)
      for (const part of frame) { out.set(part, got); got += part.byteLength }
    }
    return out
  } catch (err) {
    const mapped = mapRemote(toProtocolError(err, context, signals))
    stream.abort(mapped)
    throw mapped
  }
}

function parseHeader (frame: { subarray: () => Uint8Array }, context: string): { size: number, length: number } {
  const payload = decodeResponseFrame(frame.subarray(), context)
  let value: unknown
  try { value = cborDecode(payload) } catch { throw new ProtocolError('bad-frame', `${context}: header is not CBOR`) }
  if (typeof value !== 'object' || value === null) throw new ProtocolError('bad-frame', `${context}: header is not a map`)
  const { size, length } = value as Record<string, unknown>
  if (!isUint(size) || !isUint(length)) throw new ProtocolError('bad-frame', `${context}: header fields invalid`)
  return { size, length }
}

/** Remote refusals with a meaning of their own get their own code. */
function mapRemote (err: ProtocolError): ProtocolError {
  if (err.code !== 'remote-error') return err
  if (err.remoteCode === 'not-found' || err.remoteCode === 'bad-range') return new ProtocolError(err.remoteCode, err.message, { remoteCode: err.remoteCode })
  return err
}
