// Blob distribution: time until every one of N in-process nodes holds a verified
// 5 MB blob, (a) swarm: every node fetches from all current holders and serves as
// soon as it has verified, (b) star: every node fetches from the origin only.
//
//   node build/bench/blob-swarm.js [--nodes 20,50] [--size-mb 5] [--uplink-mbit 50] [--runs 1]
//     tuning: [--slots 2] [--slot-wait-ms 0] [--per-holder 2] [--parallel 4] [--mesh 8] [--settle 1500] [--max-waiting 64]
//
// All nodes share one process and one event loop, so without a per-node upload
// budget the run measures the CPU cost of noise+yamux for N·S bytes, which is the
// same in both modes. Each node's blob server therefore gets a token-bucket uplink
// (--uplink-mbit, 0 = unlimited): the regime of N hosts with their own links.
import '../agent/polyfill.js'
import { parseArgs } from 'node:util'
import { createHash, randomBytes } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { startLocalNodes, stopNodes } from '../agent/net/local-cluster.js'
import { serveBlobs, type BlobSource } from '../agent/net/blob-protocol.js'
import { swarmFetch, type BlobHolder, type PartialBlobSink, type PartialBlobTarget } from '../agent/net/swarm-fetch.js'
import { tokenBucket } from '../agent/net/rate-limit.js'
import type { RingleaderNode } from '../agent/net/create-node.js'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '20,50' },
    'size-mb': { type: 'string', default: '5' },
    'uplink-mbit': { type: 'string', default: '50' },
    runs: { type: 'string', default: '1' },
    modes: { type: 'string', default: 'swarm,star' },
    slots: { type: 'string', default: '2' },
    'slot-wait-ms': { type: 'string', default: '0' },
    mesh: { type: 'string', default: '8' },
    'per-holder': { type: 'string', default: '2' },
    parallel: { type: 'string', default: '4' },
    settle: { type: 'string', default: '1500' },
    'max-waiting': { type: 'string', default: '64' }
  }
})
const sizes = values.nodes.split(',').map(Number)
const size = Math.round(Number(values['size-mb']) * 1024 * 1024)
const uplinkBytes = Number(values['uplink-mbit']) * 1_000_000 / 8
const runs = Number(values.runs)
const slotsArg = Number(values.slots)
const waitArg = Number(values['slot-wait-ms'])
const meshArg = Number(values.mesh)
const perHolderArg = Number(values['per-holder'])
const parallelArg = Number(values.parallel)
const settleMs = Number(values.settle)
const maxWaitingArg = Number(values['max-waiting'])

function seeded (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
}
const modes = values.modes.split(',') as Array<'swarm' | 'star'>

/** One node's blob store stand-in: verified blobs in memory. */
class MemoryStore implements BlobSource, PartialBlobTarget {
  readonly blobs = new Map<string, Uint8Array>()
  onCommit: (cid: string) => void = () => {}
  has (cid: string): boolean { return this.blobs.has(cid) }
  size (cid: string): number { return this.blobs.get(cid)?.byteLength ?? 0 }
  async readRange (cid: string, offset: number, length: number): Promise<Uint8Array> { return this.blobs.get(cid)!.subarray(offset, offset + length) }
  beginPartial (cid: string, blobSize: number): PartialBlobSink {
    const buf = new Uint8Array(blobSize)
    return {
      write: (offset, bytes) => { buf.set(bytes, offset) },
      commit: () => {
        const digest = createHash('sha256').update(buf).digest()
        if (!Buffer.from(CID.parse(cid).multihash.digest).equals(digest)) throw new Error('hash mismatch')
        this.blobs.set(cid, buf)
        this.onCommit(cid)
      },
      abort: () => {}
    }
  }
}

interface RunResult { mode: 'swarm' | 'star', nodes: number, dialFailures: number, allMs: number, p50Ms: number, firstMs: number, originShare: number, maxServedByOne: number, retries: number, busy: number }

async function runOnce (mode: 'swarm' | 'star', n: number, blob: Uint8Array, cid: string): Promise<RunResult> {
  const nodes = await startLocalNodes(n, 'tcp')
  try {
    const stores = nodes.map(() => new MemoryStore())
    const holders: BlobHolder[] = []
    const holderOf = (node: RingleaderNode): BlobHolder => ({ id: node.peerId.toString(), dial: node.getMultiaddrs()[0] })
    for (const [i, node] of nodes.entries()) {
      await serveBlobs(node, stores[i], {
        // Swarm: few upload slots so early fetchers finish (and start serving) early.
        // Star: the origin takes everyone at once; refusing would only add idle time.
        maxConcurrentUploads: mode === 'swarm' ? 16 : 8 * n,
        maxUploadPeers: mode === 'swarm' ? slotsArg : n,
        slotWaitMs: waitArg,
        maxWaiting: maxWaitingArg,
        maxInboundStreams: 16,
        timeoutMs: 120_000,
        uploadLimiter: uplinkBytes > 0 ? tokenBucket({ bytesPerSecond: uplinkBytes }) : undefined
      })
    }
    // Both modes start from the same warm overlay, as in a running cluster: every
    // node is connected to the origin and to `mesh` random others (the peer
    // sampler's target), so the timing is distribution, not connection set-up.
    const random = seeded(n)
    // Four nodes dial at a time: hundreds of simultaneous noise handshakes on a
    // loaded 2-core box time out.
    let dialFailures = 0
    for (let from = 1; from < n; from += 4) {
      await Promise.all(nodes.slice(from, from + 4).map(async (node, k) => {
        const self = from + k
        const peers = new Set<number>([0])
        while (peers.size < Math.min(meshArg + 1, n - 1)) { const j = 1 + Math.floor(random() * (n - 1)); if (j !== self) peers.add(j) }
        for (const j of peers) await node.dial(nodes[j].getMultiaddrs()[0]).catch(() => { dialFailures++ })
      }))
    }
    // Let identify and gossipsub finish their per-connection set-up first.
    await new Promise(resolve => setTimeout(resolve, settleMs))
    stores[0].blobs.set(cid, blob)
    holders.push(holderOf(nodes[0]))
    const origin = holders[0]
    const started = performance.now()
    const finishedAt: number[] = []
    let retries = 0
    let busy = 0
    const bytesServed = new Map<string, number>()
    await Promise.all(nodes.slice(1).map(async (node, k) => {
      const store = stores[k + 1]
      store.onCommit = () => { if (mode === 'swarm') holders.push(holderOf(node)) }
      const stats = await swarmFetch({
        node,
        cid,
        size: blob.byteLength,
        holders: () => mode === 'swarm' ? holders : [origin],
        target: store,
        selfId: node.peerId.toString(),
        isConnected: (id) => node.getConnections().some(c => c.remotePeer.toString() === id),
        chunkBytes: 512 * 1024,
        parallel: parallelArg,
        perHolderParallel: mode === 'swarm' ? perHolderArg : parallelArg,
        chunkTimeoutMs: 60_000,
        stallTimeoutMs: 60_000
      })
      finishedAt.push(performance.now() - started)
      retries += stats.retries
      busy += stats.busy
      for (const [id, b] of Object.entries(stats.bytesByHolder)) bytesServed.set(id, (bytesServed.get(id) ?? 0) + b)
    }))
    finishedAt.sort((a, b) => a - b)
    const total = [...bytesServed.values()].reduce((a, b) => a + b, 0)
    return {
      mode,
      nodes: n,
      dialFailures,
      allMs: Math.round(finishedAt[finishedAt.length - 1]),
      p50Ms: Math.round(finishedAt[Math.floor(finishedAt.length / 2)]),
      firstMs: Math.round(finishedAt[0]),
      originShare: Number(((bytesServed.get(origin.id) ?? 0) / total).toFixed(3)),
      maxServedByOne: Math.max(...bytesServed.values()),
      retries,
      busy
    }
  } finally { await stopNodes(nodes) }
}

const blob = randomBytes(size)
const cid = CID.createV1(raw.code, await sha256.digest(blob)).toString()
const results: RunResult[] = []
for (const n of sizes) {
  for (let r = 0; r < runs; r++) {
    for (const mode of modes) {
      const res = await runOnce(mode, n, blob, cid)
      results.push(res)
      console.error(JSON.stringify(res))
    }
  }
}
const summary = sizes.map(n => {
  const best = (mode: string): number => Math.min(...results.filter(r => r.nodes === n && r.mode === mode).map(r => r.allMs))
  const starMs = best('star')
  const swarmMs = best('swarm')
  return { nodes: n, swarmMs, starMs, speedup: Number((starMs / swarmMs).toFixed(2)), starModelMs: Math.round((n - 1) * size / uplinkBytes * 1000) }
})
console.log(JSON.stringify({ bench: 'blob-swarm', sizeBytes: size, uplinkMbit: Number(values['uplink-mbit']), transport: 'tcp 127.0.0.1, one process', summary, results }, null, 1))
