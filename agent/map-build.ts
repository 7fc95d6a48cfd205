// Carries out the epoch machine's BuildRequest: rebalance each changed ring from its
// previous builder state, encode the ring.gz archive and the builder state, put both
// in the blob store, and assemble the next map (whose own bytes go in the store too,
// so a node that missed it can fetch it by hash).
//
// The rebalance runs on the event loop. At 2^20 partitions it takes about a second of
// CPU, during which gossip and probes wait; the ring builder yields nothing, so a
// worker thread is the way out if that pause matters (see docs/cluster-map.md).
import { decodeBuilderState, encodeBuilderState, encodeRingGz, rebalance } from '../ring/index.js'
import type { BuilderState } from '../ring/types.js'
import { encodeMap, mapHash, type ClusterMap } from '../protocol/map/map.js'
import type { BuildOutcome, BuildRequest, RingDevices } from '../protocol/map/epoch-types.js'

export interface BuildStore {
  get: (cid: string) => Promise<Uint8Array>
  put: (bytes: Uint8Array, expectedCid?: string) => Promise<string>
}

export interface BuildResult {
  outcome: BuildOutcome
  /** Every blob the new map names, plus the map blob: protect them from gc until pinned. */
  cids: string[]
}

/** Deterministic seed per ring and epoch, so a rebuild of the same inputs gives the same bytes. */
function seedFor (name: string, epoch: number): number {
  let h = 2166136261
  for (const ch of `${name}@${epoch}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0
  return h
}

export async function runBuild (req: BuildRequest, selfId: string, store: BuildStore): Promise<BuildResult> {
  const cids: string[] = []
  try {
    const rings: ClusterMap['rings'] = {}
    const devices: Record<string, RingDevices[string]> = {}
    for (const ring of req.rings) {
      let previous: BuilderState | undefined
      if (ring.previousBuilderCid !== undefined) previous = decodeBuilderState(await store.get(ring.previousBuilderCid))
      const kept = req.base?.rings[ring.name]
      if (!ring.rebuild && kept !== undefined && previous !== undefined) {
        rings[ring.name] = kept
        devices[ring.name] = previous.devs
        cids.push(kept.cid, kept.builderCid)
        continue
      }
      const result = rebalance({ params: { ...ring.params, seed: previous?.params.seed ?? seedFor(ring.name, req.epoch) }, devices: ring.devices, previous, now: req.now })
      const ringBytes = encodeRingGz(result.ring)
      const cid = await store.put(ringBytes)
      const builderCid = await store.put(encodeBuilderState(result.state))
      cids.push(cid, builderCid)
      rings[ring.name] = { ...ring.params, cid, builderCid, size: ringBytes.byteLength }
      devices[ring.name] = result.state.devs
    }
    const map: ClusterMap = { version: 1, epoch: req.epoch, coordinator: selfId, prev: req.baseHash, rings, members: req.members, createdAt: Math.floor(req.now) }
    const mapBytes = encodeMap(map)
    cids.push(await store.put(mapBytes, mapHash(map)))
    return { outcome: { ok: true, map, devices }, cids }
  } catch (err) {
    return { outcome: { ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }, cids }
  }
}
