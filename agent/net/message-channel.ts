// A datagram-like channel over libp2p: one long-lived outbound stream per peer that
// carries length-prefixed messages, fire and forget, as memberlist sends its probes
// over UDP. A stream per message (open, negotiate the protocol, send, wait for a
// receipt, close) costs far more CPU than the message: with probes every 200 ms it
// was most of an idle agent's work. Loss is the caller's business, as with UDP: the
// membership core already times out pings and repeats gossip.
//
// - Outbound: the stream to a peer opens on the first send and is reused; a failed
//   or timed-out write aborts it, and the next send opens a new one. Per-peer state
//   is a few fields, kept for every peer ever sent to (members, a bounded set).
// - A peer that stops reading (SIGSTOP) cannot make us buffer without bound: at
//   most `maxQueued` messages wait per peer, later ones are dropped (send → false).
// - Inbound: each stream is read frame by frame; a frame over `maxMessageBytes`, or
//   a malformed length prefix, closes that stream (the sender reconnects).
import { lpStream } from '@libp2p/utils'
import type { PeerId, Stream } from '@libp2p/interface'
import type { StreamNode } from './request-response.js'
import { ProtocolError } from './errors.js'

export interface MessageChannelOptions {
  /** Largest message either way. */
  maxMessageBytes: number
  /** Deadline for opening a stream (dial included) and for one write. */
  sendTimeoutMs: number
  /** Messages waiting per peer before further ones are dropped (default 32). */
  maxQueued?: number
  /** Inbound streams one connection may hold open at once (default 4). */
  maxInboundStreams?: number
  /** Called for every message that arrives; must not throw (errors are swallowed). */
  onMessage: (from: PeerId, bytes: Uint8Array) => void
  /** A stream closed on a bad frame from `from` (oversize, malformed). */
  onBadFrame?: (from: PeerId, err: unknown) => void
}

export interface MessageChannelStats {
  sent: number
  received: number
  /** Sends that failed (dial, write, timeout) or were dropped on a full queue. */
  failed: number
  dropped: number
  /** Outbound streams opened, over the channel's lifetime. */
  streamsOpened: number
  badFrames: number
}

export interface MessageChannel {
  readonly protocol: string
  readonly stats: MessageChannelStats
  /** Queues one message to `peer`; resolves true once written to the stream. Never throws. */
  send: (peer: PeerId, bytes: Uint8Array) => Promise<boolean>
  /** Outbound streams open right now. */
  openStreams: () => number
  stop: () => Promise<void>
}

interface Outbound {
  stream: Stream | undefined
  opening: Promise<Stream> | undefined
  writer: ReturnType<typeof lpStream> | undefined
  queued: number
  /** Writes go one after another on a stream. */
  chain: Promise<unknown>
}

export async function openMessageChannel (node: StreamNode, protocol: string, opts: MessageChannelOptions): Promise<MessageChannel> {
  const stats: MessageChannelStats = { sent: 0, received: 0, failed: 0, dropped: 0, streamsOpened: 0, badFrames: 0 }
  const maxQueued = opts.maxQueued ?? 32
  const outbound = new Map<string, Outbound>()
  const inbound = new Set<Stream>()
  let stopped = false

  const readLoop = async (stream: Stream, from: PeerId): Promise<void> => {
    const lp = lpStream(stream, { maxDataLength: opts.maxMessageBytes })
    inbound.add(stream)
    try {
      while (!stopped) {
        let frame: Uint8Array
        try {
          frame = (await lp.read()).subarray()
        } catch (err) {
          // End of stream or a closed connection is normal; a bad frame is the peer's fault.
          const name = err instanceof Error ? err.name : ''
          if (name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError' || name === 'InvalidMessageLengthError') {
            stats.badFrames++
            try { opts.onBadFrame?.(from, err) } catch { /* a hint sink must not break reading */ }
          }
          stream.abort(err instanceof Error ? err : new Error(String(err)))
          return
        }
        stats.received++
        try { opts.onMessage(from, frame) } catch { /* the receiver's problem, not the stream's */ }
      }
    } finally {
      inbound.delete(stream)
    }
  }

  await node.handle(protocol, (stream, connection) => {
    readLoop(stream, connection.remotePeer).catch(() => { stream.abort(new Error('message channel read failed')) })
  }, { maxInboundStreams: opts.maxInboundStreams ?? 4, maxOutboundStreams: 4 })

  /** Forgets the peer's stream (aborting it); the next send opens a new one. */
  const reset = (out: Outbound, err: unknown): void => {
    const s = out.stream
    out.stream = undefined
    out.writer = undefined
    s?.abort(err instanceof Error ? err : new Error(String(err)))
  }

  const writerFor = async (peer: PeerId, out: Outbound): Promise<ReturnType<typeof lpStream>> => {
    if (out.stream !== undefined && out.writer !== undefined && out.stream.status === 'open' && out.stream.writeStatus === 'writable') return out.writer
    reset(out, new Error('stream no longer writable'))
    out.opening ??= node.dialProtocol(peer, protocol, { signal: AbortSignal.timeout(opts.sendTimeoutMs) }).then(s => {
      stats.streamsOpened++
      out.stream = s
      out.writer = lpStream(s, { maxDataLength: opts.maxMessageBytes })
      // A connection that goes away takes the stream with it: forget it at once.
      s.addEventListener('close', () => { if (out.stream === s) { out.stream = undefined; out.writer = undefined } }, { once: true })
      return s
    }).finally(() => { out.opening = undefined })
    await out.opening
    if (out.writer === undefined) throw new Error('stream closed while opening')
    return out.writer
  }

  return {
    protocol,
    stats,
    openStreams: () => { let n = 0; for (const o of outbound.values()) if (o.stream !== undefined) n++; return n },
    send: async (peer, bytes) => {
      if (stopped) return false
      if (bytes.byteLength > opts.maxMessageBytes) { stats.failed++; return false }
      const key = peer.toString()
      let out = outbound.get(key)
      if (out === undefined) {
        out = { stream: undefined, opening: undefined, writer: undefined, queued: 0, chain: Promise.resolve() }
        outbound.set(key, out)
      }
      if (out.queued >= maxQueued) { stats.dropped++; stats.failed++; return false }
      const o = out
      o.queued++
      const attempt = o.chain.then(async () => {
        if (stopped) return false
        // The write's deadline is a timer cleared when the write returns, not an
        // AbortSignal.timeout: such a signal's timer fires whether or not the write
        // is long done, and woke an idle agent once a second for every message it
        // had sent. A write that outlasts it aborts the stream, which fails the write.
        let deadline: ReturnType<typeof setTimeout> | undefined
        try {
          const writer = await writerFor(peer, o)
          deadline = setTimeout(() => { reset(o, new ProtocolError('timeout', `message channel write took over ${opts.sendTimeoutMs} ms`)) }, opts.sendTimeoutMs)
          await writer.write(bytes)
          stats.sent++
          return true
        } catch (err) {
          stats.failed++
          reset(o, err)
          return false
        } finally {
          clearTimeout(deadline)
        }
      }).finally(() => { o.queued-- })
      o.chain = attempt
      return await attempt
    },
    stop: async () => {
      stopped = true
      for (const out of outbound.values()) reset(out, new Error('message channel stopped'))
      outbound.clear()
      for (const s of [...inbound]) s.abort(new Error('message channel stopped'))
      await node.unhandle(protocol).catch(() => {})
    }
  }
}
