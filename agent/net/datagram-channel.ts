// Signed datagrams over UDP, for the probe traffic memberlist sends as UDP packets.
//
// Why not libp2p: a probe between two members that have no connection needs one
// (TCP, noise, yamux: ~16 ms of CPU), and on a busy box a probe that first waits for
// a handshake times the handshake, not the member. Over a connection, every 45-byte
// ping is also a noise frame inside a yamux frame on TCP. A datagram needs neither:
// it is signed with the sender's libp2p key (the peer id carries the public key), so
// the recipient knows who sent it as surely as over noise, without a session.
//
// What a datagram does not give, and who covers it: loss and reordering (the
// membership core times out pings and falls back to helpers, as SWIM does over UDP);
// secrecy (pings and acks carry a sequence number and nothing else); replay — a
// replayed ping only earns its sender another ack, and an answer counts only when it
// echoes this process's random nonce (datagram-envelope.ts).
import { createSocket, type Socket } from 'node:dgram'
import { randomBytes, type KeyObject } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { decodeEnvelope, encodeSignedPart, envelopeSize, NONCE_BYTES } from './datagram-envelope.js'
import { signBytes, signingKey, verifyBytes, verifyingKey } from './ed25519-keys.js'
import { DatagramError, type DatagramErrorCode } from './errors.js'

export interface DatagramEndpoint { host: string, port: number }

export interface DatagramChannelOptions {
  selfId: string
  /** The node's libp2p identity (Ed25519); its peer id must be `selfId`. */
  privateKey: PrivateKey
  /** One socket per address; a port already taken there falls back to any free one. */
  bind: DatagramEndpoint[]
  /** Largest datagram sent or accepted, envelope included (default 1200: one packet on any IPv6 path). */
  maxDatagramBytes?: number
  /** Senders whose key, nonce and source are remembered (default 8192; the oldest are forgotten first). */
  maxPeers?: number
  /**
   * A verified datagram. `answersUs`: it echoes this process's nonce, i.e. the
   * sender made it after hearing from this process (required of answers).
   */
  onMessage: (from: string, payload: Uint8Array, info: { answersUs: boolean }) => void
}

export interface DatagramChannelStats {
  sent: number
  received: number
  /** Sends the socket reported failed. */
  failed: number
  rejected: Partial<Record<DatagramErrorCode, number>>
}

export interface DatagramChannel {
  readonly stats: DatagramChannelStats
  /** The bound sockets' addresses (actual ports). */
  readonly endpoints: readonly DatagramEndpoint[]
  /** Senders remembered (each verified at least once), at most maxPeers. */
  knownPeers: () => number
  /** Whether a verified datagram from `peer` arrived in this process, so an answer to it can echo its nonce. */
  heardFrom: (peer: string) => boolean
  /** Where `peer`'s last verified datagram came from. */
  sourceOf: (peer: string) => DatagramEndpoint | undefined
  /**
   * Whether a bound socket can send to `host`: one of its address family, bound to
   * every interface or on the same side of loopback (a socket on 127.0.0.1 cannot
   * reach 10.0.0.5; such a member is probed over libp2p instead).
   */
  reaches: (host: string) => boolean
  /**
   * Signs and sends `payload` to `to` at `at`. Throws DatagramError('too-large') when
   * the datagram would exceed the limit; false when stopped or no socket of that
   * address family is bound. Socket errors are counted, not thrown.
   */
  send: (to: string, at: DatagramEndpoint, payload: Uint8Array) => boolean
  stop: () => Promise<void>
}

interface PeerState { key: KeyObject, nonce?: Uint8Array, source?: DatagramEndpoint }

const NO_ECHO = new Uint8Array(NONCE_BYTES)
const isIpv6 = (host: string): boolean => host.includes(':')
const isLoopback = (host: string): boolean => host.startsWith('127.') || host === '::1'
/** A bind address meaning every interface of its family. */
export const isWildcard = (host: string): boolean => host === '0.0.0.0' || host === '::'

async function bindSocket (at: DatagramEndpoint): Promise<Socket> {
  const attempt = async (port: number): Promise<Socket> => await new Promise((resolve, reject) => {
    const socket = createSocket({ type: isIpv6(at.host) ? 'udp6' : 'udp4', ipv6Only: isIpv6(at.host) })
    const onError = (err: Error): void => { socket.close(); reject(err) }
    socket.once('error', onError)
    socket.bind({ address: at.host, port, exclusive: true }, () => {
      socket.off('error', onError)
      resolve(socket)
    })
  })
  try {
    return await attempt(at.port)
  } catch (err) {
    if (at.port === 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
    return await attempt(0)
  }
}

export async function openDatagramChannel (opts: DatagramChannelOptions): Promise<DatagramChannel> {
  const maxBytes = opts.maxDatagramBytes ?? 1200
  const maxPeers = opts.maxPeers ?? 8192
  const ownKey = signingKey(opts.privateKey)
  const ownNonce = randomBytes(NONCE_BYTES)
  const stats: DatagramChannelStats = { sent: 0, received: 0, failed: 0, rejected: {} }
  const peers = new Map<string, PeerState>()
  let stopped = false

  const reject = (err: DatagramError): void => { stats.rejected[err.code] = (stats.rejected[err.code] ?? 0) + 1 }

  /** The verifying key of `id` (remembered once a datagram from it verified); undefined for a non-Ed25519 id. */
  const keyOf = (id: string): KeyObject | undefined => {
    const known = peers.get(id)
    if (known !== undefined) return known.key
    try { return verifyingKey(peerIdFromString(id)) } catch { return undefined }
  }

  /**
   * Remembers a sender whose datagram verified (the oldest forgotten past maxPeers).
   * Only verified senders: forged datagrams under made-up ids cannot push real
   * members' nonces out.
   */
  const remember = (id: string, key: KeyObject, nonce: Uint8Array, source: DatagramEndpoint): void => {
    let state = peers.get(id)
    if (state === undefined) {
      if (peers.size >= maxPeers) peers.delete(peers.keys().next().value as string)
      state = { key }
      peers.set(id, state)
    }
    state.nonce = Uint8Array.from(nonce)
    state.source = source
  }

  const receive = (bytes: Buffer, source: DatagramEndpoint): void => {
    try {
      if (bytes.byteLength > maxBytes) throw new DatagramError('too-large', `datagram of ${bytes.byteLength} bytes (limit ${maxBytes})`)
      const d = decodeEnvelope(bytes)
      if (d.to !== opts.selfId || d.from === opts.selfId) throw new DatagramError('wrong-recipient', `datagram for ${d.to} from ${d.from}`)
      const key = keyOf(d.from)
      if (key === undefined) throw new DatagramError('bad-key', `sender ${d.from} is not an Ed25519 peer id`)
      if (!verifyBytes(key, d.signed, d.signature)) throw new DatagramError('bad-signature', `datagram from ${d.from} does not verify`)
      remember(d.from, key, d.nonce, source)
      stats.received++
      opts.onMessage(d.from, d.payload, { answersUs: Buffer.compare(d.echo, ownNonce) === 0 })
    } catch (err) {
      if (err instanceof DatagramError) reject(err)
      // anything else was thrown by onMessage, which must not throw; dropped as UDP would drop it
    }
  }

  const sockets: Socket[] = []
  const endpoints: DatagramEndpoint[] = []
  try {
    for (const at of opts.bind) {
      const socket = await bindSocket(at)
      sockets.push(socket)
      endpoints.push({ host: at.host, port: socket.address().port })
      socket.on('message', (bytes, rinfo) => { receive(bytes, { host: rinfo.address, port: rinfo.port }) })
      socket.on('error', () => { stats.failed++ })
    }
  } catch (err) {
    for (const s of sockets) s.close()
    throw err
  }
  const socketFor = (host: string): Socket | undefined =>
    sockets[endpoints.findIndex(e => isIpv6(e.host) === isIpv6(host) && (isWildcard(e.host) || isLoopback(e.host) === isLoopback(host)))]

  return {
    stats,
    endpoints,
    knownPeers: () => peers.size,
    heardFrom: (peer) => peers.get(peer)?.nonce !== undefined,
    sourceOf: (peer) => peers.get(peer)?.source,
    reaches: (host) => socketFor(host) !== undefined,
    send: (to, at, payload) => {
      const socket = socketFor(at.host)
      if (stopped || socket === undefined) return false
      const size = envelopeSize(opts.selfId, to, payload.byteLength)
      if (size > maxBytes) throw new DatagramError('too-large', `datagram of ${size} bytes (limit ${maxBytes})`)
      const signed = encodeSignedPart({ from: opts.selfId, to, nonce: ownNonce, echo: peers.get(to)?.nonce ?? NO_ECHO, payload })
      const datagram = Buffer.concat([signed, signBytes(ownKey, signed)])
      stats.sent++
      socket.send(datagram, at.port, at.host, (err) => { if (err !== null && err !== undefined) stats.failed++ })
      return true
    },
    stop: async () => {
      if (stopped) return
      stopped = true
      await Promise.all(sockets.map(async s => await new Promise<void>(resolve => { s.close(() => { resolve() }) })))
    }
  }
}
