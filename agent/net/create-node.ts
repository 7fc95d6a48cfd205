// The libp2p node every agent runs: TCP (or the in-process memory transport for
// tests), noise, yamux, identify, ping and gossipsub, with the settings that
// ../shared/notes/libp2p.md shows a loopback or NAT-ed cluster needs.
import { createHash } from 'node:crypto'
import { createLibp2p, type Libp2p } from 'libp2p'
import { memory } from '@libp2p/memory'
import { noise, type ICryptoInterface } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, type Identify } from '@libp2p/identify'
import { ping, type Ping } from '@libp2p/ping'
import { gossipsub, StrictSign, type GossipSub } from '@libp2p/gossipsub'
import type { ComponentLogger, PrivateKey } from '@libp2p/interface'
import { installLazyWindowUpdates } from './yamux-window.js'
import { coalescingTcp } from './coalescing-tcp.js'
import { fastNoiseCrypto } from './noise-crypto.js'
import { keepSelfRecord } from './self-record.js'
import { libp2pLogger } from './libp2p-logger.js'

export type RingleaderServices = {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
}

export type RingleaderNode = Libp2p<RingleaderServices>

export interface CreateNodeOptions {
  privateKey: PrivateKey
  /** Multiaddrs to listen on, e.g. /ip4/0.0.0.0/tcp/7950 or /memory/<uuid>. */
  listen: string[]
  /** Addresses to announce instead of the listen addresses (optional). */
  announce?: string[]
  /** Upper bound on open connections (libp2p's default is 300). */
  maxConnections?: number
  /** Start listening immediately (default true). */
  start?: boolean
  /** The noise handshake's crypto (default: fastNoiseCrypto; the benchmark compares the library's). */
  noiseCrypto?: ICryptoInterface
  /** Gossipsub's mesh degree (default MESH_DEGREE; the fan-out benchmark compares gossipsub's own). */
  meshDegree?: MeshDegree
  /** Called for every gossip copy received, before the duplicate check (benchmarks count copies). */
  onGossipCopy?: () => void
  /** libp2p's loggers (default libp2pLogger(): silent unless DEBUG is set). */
  logger?: ComponentLogger
}

export interface MeshDegree { D: number, Dlo: number, Dhi: number, Dscore: number, Dout: number, Dlazy: number }

/** Gossipsub mesh degree: target, bounds, kept by score, outbound, IHAVE fan-out. */
export const MESH_DEGREE: Readonly<MeshDegree> = { D: 4, Dlo: 3, Dhi: 6, Dscore: 2, Dout: 1, Dlazy: 4 }

/**
 * Inbound connections a node handshakes at once; libp2p refuses more at accept (see
 * below). 8 once kept a seed taking a 50-agent herd on two cores so busy that it was
 * declared failed in every herd, and 4 was kept; since joiners hold only the seed's
 * connection during a join wave (the star) and probe with patience, 8 admits the
 * herd faster with no suspicion (herds 3.2–3.6 s against 3.8–4.0 s with 4; with it
 * the seed's direct copies to unreached connections had to go to 64, see
 * agent/membership/transport.ts). 3 cost a 5-node cluster's fourth simultaneous
 * joiner a refusal and a retry (docs/network.md § Join addresses).
 */
export const MAX_INCOMING_PENDING = 8

/** The longest single dial attempt a caller may ask for (see addressDialTimeout below). */
export const MAX_DIAL_ATTEMPT_MS = 30_000

export async function createNode (opts: CreateNodeOptions): Promise<RingleaderNode> {
  installLazyWindowUpdates()
  const usesMemory = opts.listen.some(a => a.startsWith('/memory/'))
  const usesTcp = opts.listen.some(a => !a.startsWith('/memory/'))
  const node = await createLibp2p({
    privateKey: opts.privateKey,
    logger: opts.logger ?? libp2pLogger(),
    start: opts.start ?? true,
    addresses: { listen: opts.listen, announce: opts.announce },
    transports: [
      ...(usesTcp || !usesMemory ? [coalescingTcp()] : []),
      ...(usesMemory ? [memory()] : [])
    ],
    // Membership's probes already say which peers are alive; libp2p's own monitor would
    // open a ping stream on every connection every 10 s (N = 50: ~5 a second per node).
    // Once a minute still aborts a connection that died silently (a partition).
    connectionMonitor: { pingInterval: 60_000 },
    connectionEncrypters: [noise({ crypto: opts.noiseCrypto ?? fastNoiseCrypto })],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: opts.maxConnections ?? 300,
      // The default of 5 inbound connections per second per host refuses parallel
      // joins from one address (every loopback test, NAT, Docker) and surfaces as a
      // misleading EncryptionFailedError: ECONNRESET.
      inboundConnectionThreshold: 1000,
      // Inbound handshakes in progress at once; libp2p closes further connections at
      // accept. Taking them all only interleaves them: a seed on two cores shared by
      // 50 agents held 61 in its accept queue, finished ~3 a second, and most joiners
      // timed out and queued again. Refused at once, a joiner retries after a
      // jittered backoff (agent join keeps trying for 35 s). 50-agent herd: 10 and 6
      // of 49 joins failed with 256 (longer retries in the second run), 0 in each of
      // three runs with 8 (and since, with 4 and 8 again).
      maxIncomingPendingConnections: MAX_INCOMING_PENDING,
      // libp2p also cuts every address dial at 6 s, under any longer signal the caller
      // passes: a join's later attempts (12 s) ended at 6 s on a loaded seed whose
      // accept queue was still draining. Callers pass their own timeouts; dials
      // without one keep libp2p's 10 s dialTimeout.
      addressDialTimeout: MAX_DIAL_ATTEMPT_MS
    },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        globalSignaturePolicy: StrictSign,
        // Membership and map gossip must not fail just because the mesh is empty yet.
        allowPublishToZeroTopicPeers: true,
        ignoreDuplicatePublishError: true,
        emitSelf: false,
        // Without a fast id, gossipsub checks the signature of every copy a peer relays
        // and only then sees it is a duplicate: each message is verified once per mesh
        // peer (~6×). The origin and sequence number name a message; the cache entry is
        // made only after a copy verified, so a forged copy cannot shadow the real one.
        fastMsgIdFn: opts.onGossipCopy === undefined ? gossipFastMsgId : countingMsgId(opts.onGossipCopy),
        // A smaller mesh than gossipsub's default (D 6, up to 12): every membership
        // update reaches each node once per mesh peer, and in a 50-agent join those
        // duplicates were most of what gossip cost. memberlist gossips to 3 nodes.
        // Coverage is not the mesh's alone: IHAVE gossip each heartbeat and push-pull
        // repair what it misses.
        ...(opts.meshDegree ?? MESH_DEGREE),
        // The default colocation penalty graylists peers once ~11 share an IP:
        // every loopback cluster and every NAT or Docker host.
        scoreParams: { IPColocationFactorWeight: 0 }
      })
    }
  })
  // Identify then answers with a record sealed once, not one per connection. If
  // sealing or storing fails, identify finds no record and seals its own, as before.
  keepSelfRecord(node, opts.privateKey)
  return node
}

function countingMsgId (onCopy: () => void): typeof gossipFastMsgId {
  return (msg) => { onCopy(); return gossipFastMsgId(msg) }
}

/** Cheap duplicate key of a gossip message before its signature is checked: origin and seqno, else the data's hash. */
export function gossipFastMsgId (msg: { from?: Uint8Array, seqno?: Uint8Array, data?: Uint8Array }): string {
  if (msg.from !== undefined && msg.seqno !== undefined) return Buffer.from(msg.from).toString('base64') + ':' + Buffer.from(msg.seqno).toString('base64')
  return 'h:' + createHash('sha256').update(msg.data ?? new Uint8Array()).digest('base64')
}
