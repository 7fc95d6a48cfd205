// The pieces in sequence, as the coordinator will use them: plan → build → store →
// map → accept → install, then a membership change and a no-op re-plan.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeBuilderState, decodeRingGz, encodeBuilderState, encodeRingGz, rebalance } from '../ring/index.js'
import type { BuilderState } from '../ring/types.js'
import { acceptMap, decodeMap, encodeMap, mapHash, planRebalance, type ClusterMap, type PlanMember, type RebalancePlan } from '../protocol/map/index.js'
import { decodeNodeMeta, encodeNodeMeta, type NodeMeta } from '../protocol/node-meta.js'
import { BlobStore } from '../agent/blob-store.js'
import { installEpoch } from '../agent/installer.js'
import { sortedIds } from './map-fixtures.js'

const ids = sortedIds(4)
const rings = [{ name: 'object', partPower: 8, replicas: 3, minPartHours: 0, overload: 0 }]
const policy = { removeDeadAfterMs: 60_000, now: 1_000_000 }

function member (i: number): PlanMember {
  const meta: NodeMeta = { region: 1, zone: i + 1, storageIp: `10.0.0.${i + 1}`, storagePort: 6200, devices: [{ name: 'sdb', weight: 100 }, { name: 'sdc', weight: 100 }], epoch: 0, ready: true }
  // meta travels as bytes through membership
  return { id: ids[i], status: 'alive', meta: decodeNodeMeta(encodeNodeMeta(meta)), statusSince: 0 }
}

async function build (store: BlobStore, plan: RebalancePlan, prev: ClusterMap | undefined, previousStates: Record<string, BuilderState>): Promise<ClusterMap> {
  const out: ClusterMap = { version: 1, epoch: (prev?.epoch ?? 0) + 1, coordinator: ids[0], prev: prev === undefined ? null : mapHash(prev), rings: {}, members: plan.members }
  for (const [name, rp] of Object.entries(plan.rings)) {
    const result = rebalance({ params: { ...rp.params, seed: 1 }, devices: rp.devices, previous: previousStates[name], now: policy.now })
    const ringBytes = encodeRingGz(result.ring)
    out.rings[name] = { ...rp.params, cid: await store.put(ringBytes), builderCid: await store.put(encodeBuilderState(result.state)), size: ringBytes.length }
  }
  return out
}

test('plan → build → store → map → accept → install, then a join and a no-op', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'rl-flow-'))
  try {
    const store = await BlobStore.open(dataDir)
    const view = [member(0), member(1), member(2)]
    const plan1 = planRebalance({ rings, members: view, policy })
    assert.ok(plan1.publish)
    const map1 = decodeMap(encodeMap(await build(store, plan1, undefined, {})))
    assert.equal(acceptMap(undefined, map1, { signer: ids[0], isKnownMember: () => true, known: () => undefined }), { accept: true })

    // What the next coordinator reads back from the blobs of the current map.
    const state1 = decodeBuilderState(await store.get(map1.rings.object.builderCid), decodeRingGz(await store.get(map1.rings.object.cid)).rows)
    assert.is(state1.devs.filter(d => d != null).length, 6)
    const previous = { map: map1, devices: { object: state1.devs } }

    const noop = planRebalance({ previous, rings, members: view, policy })
    assert.not.ok(noop.changed, `no-op re-plan saw changes: ${noop.rings.object.reasons.join(', ')}`)

    const plan2 = planRebalance({ previous, rings, members: [...view, member(3)], policy })
    assert.ok(plan2.publish)
    assert.equal(plan2.rings.object.reasons.sort(), ['add 10.0.0.4|6200|sdb', 'add 10.0.0.4|6200|sdc'])
    const map2 = decodeMap(encodeMap(await build(store, plan2, map1, { object: state1 })))
    assert.equal(acceptMap(map1, map2, { signer: ids[0], isKnownMember: () => true, known: () => undefined }), { accept: true })
    await store.retain(map2.epoch, [map2.rings.object.cid, map2.rings.object.builderCid])

    const ringDir = join(dataDir, 'swift')
    const installed = await installEpoch({ dataDir, ringDir, epoch: map2.epoch, mapHash: mapHash(map2), rings: [{ name: 'object', bytes: await store.get(map2.rings.object.cid) }], now: policy.now })
    assert.equal(installed.install.written, ['object'])
    const onDisk = decodeRingGz(await readFile(join(ringDir, 'object.ring.gz')))
    assert.is(onDisk.devs.filter(d => d != null).length, 8)
    assert.is(onDisk.devs.find(d => d?.ip === '10.0.0.4')?.meta, ids[3])

    // gc drops epoch 1's ring and builder state, keeps what epoch 2 pinned
    const gc = await store.gc()
    assert.equal(gc.removedBlobs.sort(), [map1.rings.object.cid, map1.rings.object.builderCid].sort())
  } finally {
    await rm(dataDir, { recursive: true, force: true })
  }
})

test.run()
