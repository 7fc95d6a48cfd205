// Scenario tests of the pure map-epoch state machine on a virtual clock: a fake shell
// completes builds with made-up CIDs, "fetches" and "installs" at once.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { EpochMachine, EpochError, mapHash, type BuildRequest, type ClusterMap, type EpochEvent, type EpochViewMember, type RingDevices } from '../protocol/map/index.js'
import type { NodeMeta } from '../protocol/node-meta.js'
import { cidOfText, sortedIds } from './map-fixtures.js'

const ids = sortedIds(16)
const [A, B, C, D, E] = ids
const RINGS = [{ name: 'object', partPower: 8, replicas: 3, minPartHours: 0, overload: 0 }]
const QUIET = 200

function meta (i: number, epoch = 0, ready = false): NodeMeta {
  return { region: 1, zone: 1 + (i % 3), storageIp: `10.0.0.${i + 1}`, storagePort: 6200, devices: [{ name: 'sdb', weight: 100 }], epoch, ready }
}

function member (id: string, over: Partial<EpochViewMember> = {}, epoch = 0, ready = false): EpochViewMember {
  return { id, status: 'alive', statusSince: 0, meta: meta(ids.indexOf(id), epoch, ready), ...over }
}

/** Devices of every map the fake shell built, by hash: what "installing" hands back. */
const devicesOf = new Map<string, RingDevices>()

function fakeBuild (self: string, req: BuildRequest): ClusterMap {
  const rings: ClusterMap['rings'] = {}
  const devices: Record<string, RingDevices[string]> = {}
  for (const r of req.rings) {
    const keep = !r.rebuild && req.base?.rings[r.name] !== undefined
    rings[r.name] = keep ? req.base!.rings[r.name] : { ...r.params, cid: cidOfText(`${r.name}@${req.epoch}@${self}`), builderCid: cidOfText(`${r.name}.b@${req.epoch}@${self}`) }
    devices[r.name] = r.devices
  }
  const map: ClusterMap = { version: 1, epoch: req.epoch, coordinator: self, prev: req.baseHash, rings, members: req.members }
  devicesOf.set(mapHash(map), devices)
  return map
}

/** A node: the machine plus a fake shell that acts on ready() at once. */
class Node {
  readonly m: EpochMachine
  builds: BuildRequest[] = []
  published: ClusterMap[] = []
  events: EpochEvent[] = []
  catchUps: string[] = []
  holdBuilds = false
  constructor (readonly id: string) {
    this.m = new EpochMachine({ selfId: id, quietMs: QUIET, maxDelayMs: 5 * QUIET, removeDeadAfterMs: 60_000, retryMs: 100, syncGraceMs: 1000 })
  }

  pump (now: number): void {
    for (let i = 0; i < 10; i++) {
      const r = this.m.ready()
      this.events.push(...r.events)
      let acted = false
      if (r.build !== undefined) {
        this.builds.push(r.build)
        if (!this.holdBuilds) {
          const map = fakeBuild(this.id, r.build)
          this.m.onBuildDone(r.build.id, { ok: true, map, devices: devicesOf.get(mapHash(map)) ?? {} }, now)
          acted = true
        }
      }
      if (r.publish !== undefined) this.published.push(r.publish)
      if (r.catchUp !== undefined) this.catchUps.push(r.catchUp.missing)
      if (r.fetch !== undefined) { this.m.onBlobsFetched(r.fetch.hash, now); acted = true }
      if (r.install !== undefined) { this.m.onBlobsInstalled(r.install.hash, now, devicesOf.get(r.install.hash) ?? {}); acted = true }
      if (!acted) return
    }
  }

  completeBuild (req: BuildRequest, now: number): ClusterMap {
    const map = fakeBuild(this.id, req)
    this.m.onBuildDone(req.id, { ok: true, map, devices: devicesOf.get(mapHash(map)) ?? {} }, now)
    this.pump(now)
    return map
  }

  step (now: number): void { this.m.tick(now); this.pump(now) }
  view (members: EpochViewMember[], now: number): void { this.m.onMembership(members, now); this.pump(now) }
  receive (map: ClusterMap, now: number, signer = map.coordinator): string { const v = this.m.onMapCandidate(map, signer, now); this.pump(now); return v }
  eventTypes (): string[] { return this.events.map(e => e.type) }
}

/** Runs ticks every 10 ms from `from` to `to`, as the shell's timer would. */
function runUntil (n: Node, from: number, to: number): void {
  for (let t = from; t <= to; t += 10) n.step(t)
}

/** A coordinator `A` that bootstrapped epoch 1 with members `members`. */
function bootstrapped (members: string[]): { a: Node, map1: ClusterMap } {
  const a = new Node(A)
  a.holdBuilds = true
  a.view(members.map(id => member(id)), 0)
  a.m.bootstrap(RINGS, 0)
  a.step(0)
  assert.is(a.builds.length, 1)
  const map1 = a.completeBuild(a.builds[0], 1)
  assert.is(map1.epoch, 1)
  assert.is(a.m.readiness().state, 'ready')
  return { a, map1 }
}

test('bootstrap: epoch 1 built, published, installed; ready', () => {
  const { a, map1 } = bootstrapped([A, B, C])
  assert.equal(a.published.map(m => m.epoch), [1])
  assert.is(map1.prev, null)
  assert.equal(map1.members, [A, B, C].sort())
  assert.is(a.m.installed().epoch, 1)
  assert.ok(a.eventTypes().includes('published'))
})

test('debounce: ten joins within the quiet window make one build', () => {
  const { a } = bootstrapped([A, B, C])
  const base = [A, B, C].map(id => member(id, {}, 1, true))
  runUntil(a, 10, 500) // quiet period after the bootstrap re-plan: nothing changes
  assert.is(a.builds.length, 1)
  let view = base
  for (let i = 0; i < 10; i++) {
    view = [...view, member(ids[5 + i])]
    a.view(view, 1000 + i * 50)
    a.step(1000 + i * 50)
  }
  assert.is(a.builds.length, 1, 'no build while joins keep coming')
  runUntil(a, 1460, 1000 + 9 * 50 + QUIET + 20)
  assert.is(a.builds.length, 2)
  assert.is(a.builds[1].epoch, 2)
  assert.is(a.builds[1].members.length, 13)
  runUntil(a, 1700, 3000)
  assert.is(a.builds.length, 2, 'exactly one epoch for the ten joins')
})

test('only the coordinator builds', () => {
  const { map1 } = bootstrapped([A, B, C])
  const b = new Node(B)
  b.view([member(A, {}, 1, true), member(B), member(C)], 10)
  assert.is(b.receive(map1, 10), 'accept')
  assert.is(b.m.installed().epoch, 1)
  b.view([member(A, {}, 1, true), member(B, {}, 1, true), member(C), member(D)], 20)
  runUntil(b, 20, 2000)
  assert.is(b.builds.length, 0)
  assert.throws(() => b.m.requestRingSet(RINGS[0], 2000), (e: unknown) => e instanceof EpochError && e.code === 'NOT_COORDINATOR')
})

/** Drives `n` the way the shell's timer does: tick at nextDeadline() (+1 ms) until `to`; returns the wakeups. */
function wakeups (n: Node, from: number, to: number): number {
  let t = from
  let count = 0
  for (;;) {
    const at = n.m.nextDeadline()
    if (at === undefined) return count
    t = Math.max(t, at) + 1
    if (t > to) return count
    n.step(t)
    count++
    if (count > 1000) return count
  }
}

test('a deadline the node cannot act on does not wake it again and again (no busy timer)', () => {
  const { a, map1 } = bootstrapped([A, B, C])
  // No map yet, membership churning: nothing to wait for.
  const c = new Node(C)
  c.view([member(A), member(B), member(C)], 0)
  c.view([member(A), member(B), member(C), member(D)], 5)
  assert.ok(wakeups(c, 5, 10_000) <= 2, 'a node without a map is quiet')
  // A non-coordinator holding the map: a join is not its to plan.
  const b = new Node(B)
  b.view([member(A, {}, 1, true), member(B), member(C)], 10)
  b.receive(map1, 10)
  b.view([member(A, {}, 1, true), member(B, {}, 1, true), member(C), member(D)], 20)
  assert.ok(wakeups(b, 20, 10_000) <= 2, 'a non-coordinator is quiet')
  // The coordinator wakes once for the quiet window, builds, and is quiet again.
  a.view([A, B, C, D].map(id => member(id, {}, 1, true)), 20)
  const w = wakeups(a, 20, 10_000)
  assert.ok(w >= 1 && w <= 4, `coordinator wakeups: ${w}`)
  assert.is(a.builds.length, 2, 'the join made one build')
})

test('a node missing from its own membership view never coordinates or bootstraps', () => {
  const { map1 } = bootstrapped([A, B, C])
  const a = new Node(A) // a fresh machine with the lowest id, not in the view
  a.holdBuilds = true
  a.view([member(B, {}, 1, true), member(C, {}, 1, true)], 0)
  a.receive(map1, 0, A)
  a.view([member(B, {}, 1, true), member(C, {}, 1, true), member(D)], 10)
  runUntil(a, 10, 1000)
  assert.is(a.m.coordinator()?.id, B)
  assert.is(a.builds.length, 0)
  assert.throws(() => new Node(E).m.bootstrap(RINGS, 0), (e: unknown) => e instanceof EpochError && e.code === 'NOT_COORDINATOR')
})

test('coordinator handover: the lowest id takes over once it is ready', () => {
  const { map1 } = bootstrapped([A, B, C])
  // B holds the map; A (lower id) is alive but not ready yet: B coordinates.
  const b = new Node(B)
  b.holdBuilds = true
  b.view([member(A), member(B), member(C)], 0)
  b.receive(map1, 0, A)
  assert.is(b.m.coordinator()?.id, B)
  // A becomes ready: B hands over at once and never builds for the next join.
  b.view([member(A, {}, 1, true), member(B), member(C)], 10)
  assert.is(b.m.coordinator()?.id, A)
  b.view([member(A, {}, 1, true), member(B), member(C), member(D)], 20)
  runUntil(b, 20, 2000)
  assert.is(b.builds.length, 0)
  // A, freshly synced and now coordinator, plans the join.
  const a = new Node(A)
  a.holdBuilds = true
  a.view([member(A), member(B, {}, 1, true), member(C)], 0)
  a.receive(map1, 0)
  a.view([member(A), member(B, {}, 1, true), member(C), member(D)], 10)
  runUntil(a, 10, 1000)
  assert.is(a.builds.length, 1)
  assert.ok(a.builds[0].members.includes(D))
})

test('majority gate: a minority never publishes; force overrides', () => {
  const { a } = bootstrapped([A, B, C, D, E])
  runUntil(a, 10, 500)
  // C, D, E die: 2 of 5 previous members alive; a device change is pending.
  const dead = { status: 'dead' as const, statusSince: 1000 }
  a.view([member(A, {}, 1, true), member(B, {}, 1, true), member(C, dead), member(D, dead), member(E, dead), member(ids[6])], 1000)
  runUntil(a, 1000, 3000)
  assert.is(a.builds.length, 1, 'no build without a majority')
  assert.ok(a.eventTypes().includes('gate-closed'))
  a.m.setForce(3000)
  runUntil(a, 3000, 3500)
  assert.is(a.builds.length, 2)
  assert.is(a.builds[1].epoch, 2)
})

test('a build whose base was replaced meanwhile is discarded', () => {
  const { a, map1 } = bootstrapped([A, B, C])
  runUntil(a, 10, 500)
  a.view([member(A, {}, 1, true), member(B, {}, 1, true), member(C, {}, 1, true), member(D)], 1000)
  runUntil(a, 1000, 1300)
  assert.is(a.builds.length, 2)
  const pending = a.builds[1]
  // Meanwhile B's side (forced) reached epoch 3; A learns it through catch-up.
  const b2: ClusterMap = { ...map1, epoch: 2, coordinator: B, prev: mapHash(map1), members: [A, B, C].sort() }
  const b3: ClusterMap = { ...b2, epoch: 3, prev: mapHash(b2) }
  devicesOf.set(mapHash(b3), devicesOf.get(mapHash(map1)) ?? {})
  assert.is(a.receive(b3, 1310), 'accept')
  a.m.onMapFetched(b2, 1310)
  a.pump(1310)
  assert.is(a.m.currentMap()?.epoch, 3)
  a.completeBuild(pending, 1320)
  assert.ok(a.eventTypes().includes('build-stale'))
  assert.is(a.published.length, 1, 'the stale result is not published')
  assert.is(a.m.currentMap()?.coordinator, B)
  // A re-plans from B's map (D is still new to it) and builds epoch 4 on top of it.
  runUntil(a, 1320, 2000)
  const last = a.builds[a.builds.length - 1]
  assert.is(last.epoch, 4)
  assert.is(last.baseHash, mapHash(b3))
})

test('after a heal: a greater map is adopted through catch-up, then the coordinator re-plans', () => {
  const { a, map1 } = bootstrapped([A, B, C])
  runUntil(a, 10, 500)
  // C's side published epochs 2 and 3 (forced); A missed both.
  const c2: ClusterMap = { ...map1, epoch: 2, coordinator: C, prev: mapHash(map1), members: [A, B, C].sort() }
  devicesOf.set(mapHash(c2), devicesOf.get(mapHash(map1)) ?? {})
  const c3: ClusterMap = { ...c2, epoch: 3, prev: mapHash(c2) }
  devicesOf.set(mapHash(c3), devicesOf.get(mapHash(map1)) ?? {})
  a.holdBuilds = false
  const view = [member(A, {}, 1, true), member(B, {}, 3, true), member(C, {}, 3, true), member(D)]
  a.view(view, 1000)
  assert.is(a.m.readiness().state, 'syncing', 'members advertise epoch 3')
  assert.is(a.receive(c3, 1000), 'accept')
  assert.equal(a.catchUps, [mapHash(c2)], 'asks for the missing predecessor')
  assert.is(a.m.currentMap()?.epoch, 1)
  a.m.onMapFetched(c2, 1010)
  a.pump(1010)
  assert.is(a.m.currentMap()?.epoch, 3)
  assert.is(a.m.installed().epoch, 3)
  runUntil(a, 1010, 2000)
  const last = a.published[a.published.length - 1]
  assert.is(last.epoch, 4)
  assert.is(last.prev, mapHash(c3))
  assert.ok(last.members.includes(D), 'planned from the merged membership')
})

test('bootstrap is refused when a map is known or a member advertises an epoch', () => {
  const { a } = bootstrapped([A, B, C])
  assert.throws(() => a.m.bootstrap(RINGS, 10), (e: unknown) => e instanceof EpochError && e.code === 'BOOTSTRAP_REFUSED')
  const d = new Node(D)
  d.view([member(A, {}, 1, true), member(D)], 0)
  assert.throws(() => d.m.bootstrap(RINGS, 0), (e: unknown) => e instanceof EpochError && e.code === 'BOOTSTRAP_REFUSED')
  runUntil(d, 0, 500)
  assert.is(d.builds.length, 0, 'nothing changed')
  assert.throws(() => new Node(E).m.bootstrap([{ ...RINGS[0], partPower: 99 }], 0), (e: unknown) => e instanceof EpochError && e.code === 'BAD_RING_DEF')
})

test('non-coordinator maps: wrong signer is rejected, unknown signer ignored', () => {
  const { map1 } = bootstrapped([A, B, C])
  const b = new Node(B)
  b.view([member(A), member(B), member(C)], 0)
  assert.is(b.m.judge(map1, C), 'reject', 'C signs a map naming A')
  assert.is(b.receive(map1, 0, C), 'reject')
  const byStranger: ClusterMap = { ...map1, coordinator: ids[9], members: [...map1.members, ids[9]].sort() }
  assert.is(b.receive(byStranger, 0), 'ignore')
  assert.is(b.m.currentMap(), undefined)
  assert.is(b.receive(map1, 0), 'accept')
  b.pump(0)
  // C, not the coordinator (A is alive, ready and lower), publishes a successor naming itself.
  b.view([member(A, {}, 1, true), member(B, {}, 1, true), member(C, {}, 1, true)], 10)
  const byC: ClusterMap = { ...map1, epoch: 2, coordinator: C, prev: mapHash(map1) }
  assert.is(b.m.judge(byC, C), 'ignore')
  assert.is(b.receive(byC, 10), 'ignore')
  assert.is(b.m.currentMap()?.epoch, 1)
  // Once A is dead the rightful coordinator is B itself (lower than C): still ignored.
  b.view([member(A, { status: 'dead', statusSince: 20 }, 1, true), member(B, {}, 1, true), member(C, {}, 1, true)], 20)
  assert.is(b.m.coordinator()?.id, B)
  assert.is(b.m.judge(byC, C), 'ignore')
  // A map from the rightful coordinator is accepted.
  const d = new Node(D)
  d.view([member(A, { status: 'dead', statusSince: 20 }, 1, true), member(B), member(C, {}, 1, true), member(D)], 20)
  d.receive(map1, 20)
  assert.is(d.m.coordinator()?.id, C)
  assert.is(d.receive(byC, 30), 'accept')
})

test('a handover race: a map the rightful coordinator holds is followed, and a coordinator that ignored one follows once it is alone in front', () => {
  const { a, map1 } = bootstrapped([A, B, C])
  const b = new Node(B)
  b.view([member(A, {}, 1, true), member(B, {}, 1, true), member(C, {}, 1, true)], 0)
  assert.is(b.receive(map1, 0), 'accept')
  // C published epoch 2 while its view lagged (A looked dead or unready to it).
  const byC: ClusterMap = { ...map1, epoch: 2, coordinator: C, prev: mapHash(map1) }
  assert.is(b.receive(byC, 10), 'ignore', 'A is alive, ready, lower, and does not hold it')
  // A adopted it (its own view lagged too) and advertises it: B follows A, or it would
  // stay at epoch 1 for good, since A holding epoch 2 has nothing to re-plan.
  const aHolds = member(A, {}, 2, true)
  aHolds.meta = { ...aHolds.meta!, holds: [mapHash(byC)] }
  b.view([aHolds, member(B, {}, 1, false), member(C, {}, 2, true)], 20)
  assert.is(b.m.judge(byC, C), 'accept')
  assert.is(b.receive(byC, 20), 'accept')
  assert.is(b.m.currentMap()?.epoch, 2)
  // The other way round: A, ready, ignores C's map; C then advertises epoch 2, so A is
  // behind (not ready), C is the only ready member and thus the coordinator A follows.
  a.view([member(A, {}, 1, true), member(B, {}, 1, true), member(C, {}, 1, true)], 30)
  assert.is(a.receive(byC, 30), 'ignore')
  a.view([member(A, {}, 1, true), member(B, {}, 1, false), member(C, {}, 2, true)], 40)
  assert.is(a.m.readiness().state, 'syncing')
  assert.is(a.m.coordinator()?.id, C)
  assert.is(a.receive(byC, 40), 'accept')
})

test('readiness: starting → syncing → ready; a newer epoch elsewhere → syncing; restore', () => {
  const { map1 } = bootstrapped([A, B, C])
  const b = new Node(B)
  assert.is(b.m.readiness().state, 'starting')
  b.view([member(A, {}, 1, true), member(B), member(C)], 0)
  assert.is(b.m.readiness().state, 'syncing')
  b.m.onMapCandidate(map1, A, 0)
  assert.is(b.m.readiness().state, 'syncing', 'accepted, not installed yet')
  b.pump(0)
  assert.is(b.m.readiness().state, 'ready')
  b.view([member(A, {}, 2, true), member(B), member(C)], 10)
  assert.equal(b.m.readiness(), { state: 'syncing', epoch: 1, newestSeen: 2 })
  const states = b.events.filter(e => e.type === 'readiness').map(e => (e as { state: string }).state)
  assert.equal(states, ['syncing', 'ready', 'syncing'])

  // Restart: the installed map is in hand at once, syncing until a peer confirms it.
  const r = new Node(C)
  r.m.restore(map1, devicesOf.get(mapHash(map1)) ?? {}, 0)
  assert.is(r.m.currentMap()?.epoch, 1)
  assert.is(r.m.readiness().state, 'syncing')
  r.view([member(A, {}, 1, true), member(B), member(C)], 5)
  assert.is(r.m.readiness().state, 'ready')
  // Alone, it waits out the grace period.
  const lone = new Node(D)
  lone.m.restore(map1, {}, 0)
  lone.view([member(D)], 0)
  lone.step(500)
  assert.is(lone.m.readiness().state, 'syncing')
  assert.is(lone.m.nextDeadline(), 1000)
  lone.step(1000)
  assert.is(lone.m.readiness().state, 'ready')
})

test('ring set on the coordinator: next epoch carries it; part power change refused', () => {
  const { a } = bootstrapped([A, B, C])
  a.holdBuilds = false
  runUntil(a, 10, 500)
  const id = a.m.requestRingSet({ name: 'object', partPower: 8, replicas: 2, minPartHours: 1, overload: 0.1 }, 600)
  a.step(600)
  const done = a.events.find(e => e.type === 'ring-set-done') as { requestId: number, epoch: number } | undefined
  assert.equal(done, { type: 'ring-set-done', requestId: id, epoch: 2 })
  assert.is(a.m.currentMap()?.rings.object.replicas, 2)
  assert.throws(() => a.m.requestRingSet({ name: 'object', partPower: 9, replicas: 2, minPartHours: 1, overload: 0 }, 700), (e: unknown) => e instanceof EpochError && e.code === 'BAD_RING_DEF')
  const id2 = a.m.requestRingSet({ name: 'account', partPower: 6, replicas: 3, minPartHours: 0, overload: 0 }, 800)
  a.step(800)
  assert.ok(a.events.some(e => e.type === 'ring-set-done' && e.requestId === id2 && e.epoch === 3))
  assert.equal(Object.keys(a.m.currentMap()?.rings ?? {}).sort(), ['account', 'object'])
})

test.run()
