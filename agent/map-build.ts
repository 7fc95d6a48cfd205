// Carries out the epoch machine's BuildRequest: rebalance each changed ring from its
// previous builder state, encode the ring.gz archive and the builder state, put both
// in the blob store, and assemble the next map (whose own bytes go in the store too,
// so a node that missed it can fetch it by hash).
//
// Each rebalance runs in a worker thread (map-build-worker.ts): at 2^20 partitions it
// takes 1–2 s of CPU, which on the event loop would stall gossip and probes.
import { decodeBuilderHead } from '../ring/index.js'
import { buildRingOffThread, type RingBuildJob, type RingBuildOutput } from './map-build-worker.js'
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

export async function runBuild (req: BuildRequest, selfId: string, store: BuildStore, build: (job: RingBuildJob) => Promise<RingBuildOutput> = buildRingOffThread): Promise<BuildResult> {
  const cids: string[] = []
  try {
    const rings: ClusterMap['rings'] = {}
    const devices: Record<string, RingDevices[string]> = {}
    for (const ring of req.rings) {
      const kept = req.base?.rings[ring.name]
      const previousBytes = ring.previousBuilderCid === undefined ? undefined : await store.get(ring.previousBuilderCid)
      const previous = previousBytes === undefined ? undefined : decodeBuilderHead(previousBytes)
      if (!ring.rebuild && kept !== undefined && previous !== undefined) {
        rings[ring.name] = kept
        devices[ring.name] = previous.devs
        cids.push(kept.cid, kept.builderCid)
        continue
      }
      // The worker continues from the whole previous state, whose rows live in its ring.gz (ring/state.ts).
      const previousRing = previousBytes === undefined || kept === undefined ? undefined : await store.get(kept.cid)
      const out = await build({ params: { ...ring.params, seed: previous?.params.seed ?? seedFor(ring.name, req.epoch) }, devices: ring.devices, ...(previousBytes !== undefined ? { previous: previousBytes } : {}), ...(previousRing !== undefined ? { previousRing } : {}), now: req.now })
      const cid = await store.put(out.ringGz)
      const builderCid = await store.put(out.builderState)
      cids.push(cid, builderCid)
      rings[ring.name] = { ...ring.params, cid, builderCid, size: out.ringGz.byteLength }
      devices[ring.name] = out.devs
    }
    const map: ClusterMap = { version: 1, epoch: req.epoch, coordinator: selfId, prev: req.baseHash, rings, members: req.members, createdAt: Math.floor(req.now) }
    const mapBytes = encodeMap(map)
    cids.push(await store.put(mapBytes, mapHash(map)))
    return { outcome: { ok: true, map, devices }, cids }
  } catch (err) {
    return { outcome: { ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }, cids }
  }
}
