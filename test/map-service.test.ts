import '../agent/polyfill.js'
// The map service on real libp2p nodes (in-process, memory transport) with a fake
// membership table the test drives. The tests run in order on one growing cluster:
// bootstrap, a join, a forwarded ring set, a corrupting holder, a rogue publisher,
// a restart.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BlobStore } from '../agent/blob-store.js'
import { MapService, MAP_TOPIC, type MapLogger, type MembershipPort } from '../agent/map-service.js'
import { encodeMapMessage } from '../agent/map-wire.js'
import { startLocalNode } from '../agent/net/local-cluster.js'
import type { RingleaderNode } from '../agent/net/create-node.js'
import type { BlobSource } from '../agent/net/blob-protocol.js'
import { decodeRingGz } from '../ring/index.js'
import { encodeMap, type ClusterMap, type EpochViewMember } from '../protocol/map/index.js'
import type { NodeMeta } from '../protocol/node-meta.js'

const QUIET_MS = 100
const RINGS = [
  { name: 'object', partPower: 8, replicas: 3, minPartHours: 0, overload: 0 },
  { name: 'account', partPower: 7, replicas: 2, minPartHours: 0, overload: 0 }
]

/** The membership table every node reads; changes reach every subscriber on the next turn. */
class FakeMembership {
  readonly entries = new Map<string, EpochViewMember>()
  private readonly listeners = new Set<() => void>()
  private scheduled = false

  notify (): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      for (const l of [...this.listeners]) l()
    })
  }

  add (id: string, meta: NodeMeta): void {
    this.entries.set(id, { id, status: 'alive', statusSince: Date.now(), meta })
    this.notify()
  }

  port (selfId: string, transform?: (view: EpochViewMember[]) => EpochViewMember[]): MembershipPort {
    return {
      selfId,
      view: () => {
        const v = [...this.entries.values()].map(e => ({ ...e, ...(e.meta !== undefined ? { meta: { ...e.meta } } : {}) }))
        return transform !== undefined ? transform(v) : v
      },
      onChange: (cb) => { this.listeners.add(cb); return () => { this.listeners.delete(cb) } },
      setLocalMeta: (u) => {
        const e = this.entries.get(selfId)
        if (e?.meta === undefined) return
        e.meta = { ...e.meta, ...u }
        this.notify()
      }
    }
  }
}

interface Agent { id: string, index: number, node: RingleaderNode, svc: MapService, dataDir: string, ringDir: string, meta: NodeMeta }

const cluster = new FakeMembership()
const agents: Agent[] = []
const dirs: string[] = []

function metaFor (i: number): NodeMeta {
  return { region: 1, zone: 1 + (i % 3), storageIp: `10.0.0.${i + 1}`, storagePort: 6200, devices: [{ name: 'sdb', weight: 100 }, { name: 'sdc', weight: 100 }], epoch: 0, ready: false }
}

async function waitFor (cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!await cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

async function startService (a: Omit<Agent, 'svc'>, extra: { blobSource?: BlobSource, transform?: (v: EpochViewMember[]) => EpochViewMember[], random?: () => number, log?: MapLogger } = {}): Promise<MapService> {
  const store = await BlobStore.open(a.dataDir)
  return await MapService.start({
    node: a.node,
    membership: cluster.port(a.id, extra.transform),
    store,
    dataDir: a.dataDir,
    ringDir: a.ringDir,
    hook: { cmd: `printf '%s %s %s\\n' "$RINGLEADER_EPOCH" "$RINGLEADER_RINGS" "$RINGLEADER_RING_DIR" >> '${join(a.dataDir, 'hook.log')}'`, timeoutMs: 5000 },
    quietMs: QUIET_MS,
    maxDelayMs: 10 * QUIET_MS,
    syncGraceMs: 60_000,
    ...(extra.blobSource !== undefined ? { blobSource: extra.blobSource } : {}),
    ...(extra.random !== undefined ? { random: extra.random } : {}),
    ...(extra.log !== undefined ? { log: extra.log } : {})
  })
}

/** Starts a node and its service, connects it to every running node, and (unless told not to) adds it to membership. */
async function addAgent (opts: { join?: boolean, blobSource?: (store: BlobStore) => BlobSource, transform?: (v: EpochViewMember[]) => EpochViewMember[], random?: () => number } = {}): Promise<Agent> {
  const index = agents.length
  let node = await startLocalNode('memory')
  // A corrupting node must not become the coordinator: then nobody would hold honest bytes of its epochs.
  // Redraw only while it would be the lowest id. (Redrawing until it was the highest
  // could run out of draws when an existing id sits near the top of the range: a flake.)
  for (let i = 0; opts.blobSource !== undefined && i < 50 && agents.length > 0 && agents.every(a => a.id > node.peerId.toString()); i++) {
    await node.stop()
    node = await startLocalNode('memory')
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'rl-mapsvc-'))
  dirs.push(dataDir)
  const base = { id: node.peerId.toString(), index, node, dataDir, ringDir: join(dataDir, 'rings'), meta: metaFor(index) }
  const blobSource = opts.blobSource?.(await BlobStore.open(dataDir))
  // Connect first: the service may dial members by id at once (the daemon's peer store knows their addresses).
  for (const other of agents) await node.dial(other.node.getMultiaddrs()[0])
  const svc = await startService(base, { ...(blobSource !== undefined ? { blobSource } : {}), ...(opts.transform !== undefined ? { transform: opts.transform } : {}), ...(opts.random !== undefined ? { random: opts.random } : {}) })
  const agent: Agent = { ...base, svc }
  agents.push(agent)
  await waitFor(() => agents.every(a => a.svc.gossipStats().subscribers >= agents.length - 1), 10_000, 'map topic subscriptions')
  if (opts.join !== false) cluster.add(agent.id, agent.meta)
  return agent
}

async function rejectsWith (p: Promise<unknown>, code: string): Promise<void> {
  try {
    await p
  } catch (err) {
    assert.is((err as { code?: string }).code, code, String(err))
    return
  }
  assert.unreachable(`expected a ${code} error`)
}

async function sha (path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex')
}

async function hookLines (a: Agent): Promise<string[]> {
  try { return (await readFile(join(a.dataDir, 'hook.log'), 'utf8')).trim().split('\n') } catch { return [] }
}

async function allReady (list: Agent[], epoch: number): Promise<void> {
  await Promise.all(list.map(async a => await a.svc.waitReady({ epoch, timeoutMs: 20_000 })))
}

function coordinatorAgent (): Agent {
  const id = agents[0].svc.status().coordinator
  const a = agents.find(x => x.id === id)
  if (a === undefined) throw new Error('no coordinator')
  return a
}

test.after(async () => {
  await Promise.allSettled(agents.map(async a => { await a.svc.stop() }))
  await Promise.allSettled(agents.map(async a => { await a.node.stop() }))
  await Promise.all(dirs.map(async d => { await rm(d, { recursive: true, force: true }) }))
})

test('bootstrap on one node: epoch 1 installed byte-identically everywhere, hook ran', async () => {
  for (let i = 0; i < 4; i++) await addAgent()
  await waitFor(() => agents.every(a => a.svc.status().membersByEpoch['0'] === 4), 5000, 'membership seen')
  const { epoch } = await agents[1].svc.bootstrap(RINGS)
  assert.is(epoch, 1)
  await allReady(agents, 1)
  for (const ring of ['object', 'account']) {
    const hashes = await Promise.all(agents.map(async a => await sha(join(a.ringDir, `${ring}.ring.gz`))))
    assert.is(new Set(hashes).size, 1, `${ring}.ring.gz differs between nodes`)
  }
  const ring = decodeRingGz(await readFile(join(agents[3].ringDir, 'object.ring.gz')))
  assert.is(ring.devs.filter(d => d != null).length, 8)
  for (const a of agents) assert.equal(await hookLines(a), [`1 account,object ${a.ringDir}`])
  await rejectsWith(agents[2].svc.bootstrap(RINGS), 'BOOTSTRAP_REFUSED')
})

test('a member joins: exactly one new epoch after the debounce, installed everywhere', async () => {
  const published = agents.map(a => a.svc.gossipStats().published)
  await addAgent()
  await allReady(agents, 2)
  await new Promise(resolve => setTimeout(resolve, 6 * QUIET_MS))
  for (const a of agents) {
    assert.is(a.svc.status().epoch, 2, 'no further epoch')
    assert.is(a.svc.map()?.members, 5)
  }
  // The newcomer may publish it: it pulls epoch 1, becomes ready, and if its id is the lowest it coordinates.
  const newly = agents.reduce((n, a, i) => n + a.svc.gossipStats().published - (published[i] ?? 0), 0)
  assert.is(newly, 1, 'one map published')
  const hashes = await Promise.all(agents.map(async a => await sha(join(a.ringDir, 'object.ring.gz'))))
  assert.is(new Set(hashes).size, 1)
  for (const a of agents) assert.ok((await hookLines(a)).includes(`2 account,object ${a.ringDir}`), 'hook ran with epoch 2')
  assert.is(decodeRingGz(await readFile(join(agents[4].ringDir, 'object.ring.gz'))).devs.filter(d => d != null).length, 10)
})

test('ring set from a non-coordinator is forwarded; the new epoch carries it', async () => {
  const coord = coordinatorAgent()
  const other = agents.find(a => a !== coord) as Agent
  const { epoch } = await other.svc.ringSet({ name: 'object', partPower: 8, replicas: 2, minPartHours: 0, overload: 0 })
  assert.is(epoch, 3)
  await allReady(agents, 3)
  for (const a of agents) {
    assert.is(a.svc.map()?.rings.find(r => r.name === 'object')?.replicas, 2)
    assert.is(decodeRingGz(await readFile(join(a.ringDir, 'object.ring.gz'))).rows.length, 2)
  }
  await rejectsWith(other.svc.ringSet({ name: 'object', partPower: 9, replicas: 2, minPartHours: 0, overload: 0 }), 'RING_SET_REFUSED')
})

test('a holder serving corrupt bytes is shunned; the blob comes from another holder', async () => {
  const corrupting = (store: BlobStore): BlobSource => ({
    has: async (cid) => await store.has(cid),
    size: async (cid) => await store.size(cid),
    readRange: async (cid, offset, length) => {
      const bytes = Uint8Array.prototype.slice.call(await store.readRange(cid, offset, length))
      if (bytes.length > 0) bytes[bytes.length - 1] ^= 0x5a
      return bytes
    }
  })
  const bad = await addAgent({ blobSource: corrupting })
  assert.ok(agents.some(a => a.id < bad.id), 'the corrupting node is not the lowest id')
  await allReady(agents, 4) // its join made epoch 4; it fetched honestly
  // A late node outside membership, which sees the corrupt holder first and as the only
  // advertised holder (the map's coordinator is the other, honest, source).
  const late = await addAgent({
    join: false,
    random: () => 0,
    transform: (v) => [...v.filter(m => m.id === bad.id), ...v.filter(m => m.id !== bad.id).map(m => ({ ...m, ...(m.meta !== undefined ? { meta: { ...m.meta, holds: [] } } : {}) }))]
  })
  const coord = coordinatorAgent()
  const newest = coord.svc.newestMapForSync()
  assert.ok(newest !== undefined)
  // Gossipsub may already have handed it the recent map (IHAVE/IWANT); either way it syncs.
  assert.ok(['accept', 'ignore'].includes(late.svc.onSyncedMap(newest, coord.id)))
  // While behind, status says what it waits for: the map it holds and its blobs.
  const behind = late.svc.status()
  if (behind.epoch !== 4) {
    assert.is(behind.pending?.epoch, 4, JSON.stringify(behind))
    assert.is(behind.pending?.blobs, 5, 'the map and two blobs per ring')
    // All five may be verified already, with the install still under way.
    assert.ok((behind.pending?.verified ?? 99) <= 5)
  }
  await waitFor(() => late.svc.status().epoch === 4, 20_000, 'late node installs epoch 4')
  assert.is(late.svc.status().pending, undefined, 'nothing pending once installed')
  assert.equal(late.svc.shunnedHolders(), [bad.id])
  assert.is(await sha(join(late.ringDir, 'object.ring.gz')), await sha(join(coord.ringDir, 'object.ring.gz')))
  assert.is(await sha(join(late.ringDir, 'account.ring.gz')), await sha(join(coord.ringDir, 'account.ring.gz')))
})

test('maps from a non-coordinator are rejected or ignored, and change nothing', async () => {
  const coord = coordinatorAgent()
  const rogue = agents.find(a => a !== coord && a.index < 5) as Agent
  const current = coord.svc.newestMapForSync()
  assert.ok(current !== undefined)
  const map = agents[0].svc.map()
  assert.ok(map !== undefined)
  const base: ClusterMap = { version: 1, epoch: map.epoch + 1, coordinator: coord.id, prev: map.hash, rings: {}, members: [...cluster.entries.keys()] }
  for (const r of map.rings) base.rings[r.name] = { cid: r.cid, builderCid: r.builderCid, partPower: r.partPower, replicas: r.replicas, minPartHours: r.minPartHours, overload: r.overload }
  const before = agents.map(a => a.svc.gossipStats())
  // Signed by the rogue, naming the coordinator: rejected.
  await rogue.node.services.pubsub.publish(MAP_TOPIC, encodeMapMessage(encodeMap(base)))
  // Signed by the rogue, naming itself while a lower ready coordinator is alive: ignored.
  const usurper = coord.id < rogue.id
  if (usurper) await rogue.node.services.pubsub.publish(MAP_TOPIC, encodeMapMessage(encodeMap({ ...base, coordinator: rogue.id })))
  const others = agents.filter(a => a !== rogue)
  // A rejected message is not forwarded, so only the rogue's direct mesh peers see it.
  await waitFor(() => others.some(a => a.svc.gossipStats().rejected > before[agents.indexOf(a)].rejected), 5000, 'rogue map rejected')
  if (usurper) await waitFor(() => others.some(a => a.svc.gossipStats().ignored > before[agents.indexOf(a)].ignored), 5000, 'usurper map ignored')
  for (const a of agents) assert.is(a.svc.gossipStats().accepted, before[agents.indexOf(a)].accepted, 'nobody accepted a rogue map')
  await new Promise(resolve => setTimeout(resolve, 3 * QUIET_MS))
  for (const a of agents) assert.is(a.svc.status().epoch, map.epoch)
})

test('restart with the same data dir: the installed map is served at once, syncing, then ready', async () => {
  const coord = coordinatorAgent()
  const victim = agents.find(a => a !== coord && a.index < 5) as Agent
  await victim.svc.stop()
  const oldEpoch = victim.svc.status().epoch
  const { epoch } = await coord.svc.ringSet({ name: 'account', partPower: 7, replicas: 3, minPartHours: 0, overload: 0 })
  assert.is(epoch, oldEpoch + 1)
  await allReady(agents.filter(a => a !== victim), epoch)
  const svc = await startService(victim, process.env.MAPSVC_DEBUG !== undefined ? { log: console as unknown as MapLogger } : {})
  victim.svc = svc
  assert.is(svc.map()?.epoch, oldEpoch, 'served from disk at once')
  assert.ok((await svc.ringBytes('object'))?.length)
  assert.is(svc.status().state, 'syncing')
  // No gossip reaches it for the epoch it missed: it pulls the newest map from a member that advertises it.
  await svc.waitReady({ epoch, timeoutMs: 20_000 })
  assert.is(await sha(join(victim.ringDir, 'account.ring.gz')), await sha(join(coord.ringDir, 'account.ring.gz')))
})

test.run()
