// Simulated clusters on a virtual clock: join, failure detection, loss, partitions,
// pauses and restarts. Every message round-trips through the wire codec.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Simulation } from './sim/simulator.js'
import { createPrng } from './sim/prng.js'
import { ringNeighbours } from '../protocol/membership/observers.js'
import type { MembershipConfig } from '../protocol/membership/index.js'

const name = (i: number): string => `node-${String(i).padStart(3, '0')}`

/** n nodes joining through node-000, one every `gap` ms of virtual time. */
function cluster (n: number, seed: number, opts: Partial<ConstructorParameters<typeof Simulation>[0]> = {}, gap = 10): Simulation {
  const sim = new Simulation({ seed, ...opts })
  sim.addNode(name(0))
  for (let i = 1; i < n; i++) {
    sim.run(gap)
    sim.addNode(name(i), name(0))
  }
  return sim
}

function quantiles (xs: number[]): { min: number, p50: number, max: number } {
  const s = [...xs].sort((a, b) => a - b)
  return { min: Math.round(s[0]), p50: Math.round(s[Math.floor(s.length / 2)]), max: Math.round(s[s.length - 1]) }
}

test('50 nodes joining through one seed converge within 1 s and agree on the checksum', () => {
  const sim = cluster(50, 1)
  const t = sim.runUntil(() => sim.allSeeAllAlive() && sim.checksumsAgree(), 5000)
  console.log(`  join: 50 nodes see all alive ${t} ms (virtual) after the last join`)
  assert.ok(t !== undefined && t <= 1000, `converged after ${t}`)
  for (const n of sim.running()) assert.is(n.core.members().length, 50)
})

test('50 concurrent joins while gossipsub takes up to 1 s to graft each joiner: no slow tail', () => {
  // Joins 2 ms apart; a joiner hears no gossip until grafted, so it relies on the
  // follow-up push-pulls with the seed (config.joinFollowUps).
  const sim = cluster(50, 10, { network: { meshDelay: 1000, gossipJitter: 100 } }, 2)
  const t = sim.runUntil(() => sim.allSeeAllAlive() && sim.checksumsAgree(), 10_000)
  console.log(`  concurrent join: 50 nodes see all alive ${t} ms (virtual) after the last join`)
  assert.ok(t !== undefined && t <= 1000, `converged after ${t}`)
  const without = cluster(50, 10, { network: { meshDelay: 1000, gossipJitter: 100 }, config: { joinFollowUps: [] } }, 2)
  assert.is(without.runUntil(() => without.allSeeAllAlive(), 3000), undefined, 'without follow-ups it takes a push-pull period')
})

test('the agent\'s settings (no follow-ups) with 20 % gossip loss: digest repair finds the stragglers, the periodic push-pull alone does not in time', () => {
  const net = { meshDelay: 1000, gossipJitter: 100, gossipLoss: 0.2 }
  const sim = cluster(50, 10, { network: net, config: { joinFollowUps: [] } }, 2)
  const t = sim.runUntil(() => sim.allSeeAllAlive() && sim.checksumsAgree(), 15_000)
  const repairs = sim.running().reduce((sum, n) => sum + n.core.digestRepairs(), 0)
  console.log(`  lossy join, no follow-ups: one view ${t} ms (virtual) after the last join, ${repairs} digest repairs`)
  assert.ok(t !== undefined, 'converged with digest repair')
  assert.ok(repairs > 0)
  const without = cluster(50, 10, { network: net, config: { joinFollowUps: [], digestSettle: 0 } }, 2)
  assert.is(without.runUntil(() => without.allSeeAllAlive() && without.checksumsAgree(), 15_000), undefined, 'not without it')
})

test('crash one of 50: every survivor marks it dead within 3 s, nobody else is suspected', () => {
  const sim = cluster(50, 2)
  sim.run(3000)
  assert.ok(sim.allSeeAllAlive())
  const victim = name(17)
  const failedAt = new Map<string, number>()
  const wrong: string[] = []
  sim.onEvent = (node, e) => {
    if (e.kind === 'fail' && e.member.id === victim) failedAt.set(node, sim.now)
    if ((e.kind === 'suspect' || e.kind === 'fail') && e.member.id !== victim) wrong.push(`${node}:${e.kind}:${e.member.id}`)
  }
  const start = sim.now
  sim.crash(victim)
  const t = sim.runUntil(() => sim.running().every(n => n.core.get(victim)?.status === 'dead'), 10_000)
  const q = quantiles([...failedAt.values()].map(x => x - start))
  console.log(`  kill: 49 survivors marked it dead after ${JSON.stringify(q)} ms (virtual)`)
  assert.ok(t !== undefined && t <= 3000, `all marked dead after ${t}`)
  assert.is(failedAt.size, 49)
  assert.equal(wrong, [])
  // One failure costs a bounded number of publishes (accusers only), not one per node.
  const deadPublishes = sim.stats.byType.dead ?? 0
  assert.ok(deadPublishes <= 4, `${deadPublishes} dead publishes`)
})

test('probe observers: every member has k observers, and a node talks to ~2k peers, not N − 1', () => {
  const ids = Array.from({ length: 50 }, (_, i) => name(i))
  const observers = new Map<string, number>()
  for (const id of ids) for (const t of ringNeighbours(id, ids, 8).successors) observers.set(t, (observers.get(t) ?? 0) + 1)
  assert.ok(ids.every(id => observers.get(id) === 8), 'each member observed by exactly 8')
  assert.equal(ringNeighbours(ids[0], ids.slice(0, 5), 8).successors, ids.slice(1, 5), 'small clusters: everyone')
  const peersPerNode = (sim: Simulation): number => {
    const count = new Map<string, number>()
    for (const pair of sim.stats.pairs) for (const id of pair.split(' ')) count.set(id, (count.get(id) ?? 0) + 1)
    return Math.max(...count.values())
  }
  // Steady state: count the pairs that talk during the second virtual minute.
  const ringed = cluster(50, 4)
  ringed.run(60_000)
  ringed.stats.pairs.clear()
  ringed.run(60_000)
  const everyone = cluster(50, 4, { config: { probeObservers: 0 } })
  everyone.run(60_000)
  everyone.stats.pairs.clear()
  everyone.run(60_000)
  const [ringPeers, allPeers] = [peersPerNode(ringed), peersPerNode(everyone)]
  console.log(`  direct peers per node over a virtual minute: ${ringPeers} with 8 observers, ${allPeers} probing everyone`)
  assert.ok(allPeers >= 45, `probing everyone talks to nearly all (${allPeers})`)
  assert.ok(ringPeers <= 2 * 8 + 2, `ring: ${ringPeers} peers (8 successors, 8 predecessors, a push-pull or two)`)
  assert.ok(ringed.allSeeAllAlive() && everyone.allSeeAllAlive())
})

test('10% packet loss on probes: no false positives over 2 virtual minutes', () => {
  const sim = cluster(20, 3, { network: { loss: 0.1, gossipJitter: 100 } })
  sim.run(2000)
  let failures = 0
  let suspicions = 0
  sim.onEvent = (_node, e) => {
    if (e.kind === 'fail') failures++
    if (e.kind === 'suspect') suspicions++
  }
  sim.run(120_000)
  console.log(`  loss: ${suspicions} suspicions raised and refuted, ${failures} failures, ${sim.stats.directLost} messages lost`)
  assert.is(failures, 0)
  assert.ok(sim.allSeeAllAlive())
  assert.ok(sim.checksumsAgree())
})

test('lossy gossip too: local mistakes stay rare and heal once the network recovers', () => {
  const sim = cluster(20, 9, { network: { loss: 0.1, gossipLoss: 0.02 } })
  sim.run(2000)
  let failures = 0
  sim.onEvent = (_node, e) => { if (e.kind === 'fail') failures++ }
  sim.run(60_000)
  sim.net.loss = 0
  sim.net.gossipLoss = 0
  const t = sim.runUntil(() => sim.allSeeAllAlive() && sim.checksumsAgree(), 20_000, 50)
  console.log(`  lossy gossip: ${failures} local failure verdicts in 60 s across 20 nodes; one view ${t} ms after loss stopped`)
  assert.ok(failures <= 20, `${failures} local failures`)
  assert.ok(t !== undefined)
})

test('indirect probes: a broken link between two nodes never raises a suspicion', () => {
  const sim = cluster(8, 4)
  sim.run(1000)
  sim.net.blockLink(name(1), name(2))
  let suspicions = 0
  sim.onEvent = (_node, e) => { if (e.kind === 'suspect' || e.kind === 'fail') suspicions++ }
  const pingReqsBefore = sim.stats.byType['ping-req'] ?? 0
  sim.run(30_000)
  assert.is(suspicions, 0)
  assert.ok((sim.stats.byType['ping-req'] ?? 0) > pingReqsBefore, 'helpers were used')
  assert.ok(sim.allSeeAllAlive())
})

test('UDP blocked: a node whose probe datagrams are dropped is never suspected thanks to the fallback ping; without it, it is', () => {
  const count = (fallbackPing: boolean, blocked: number[]): { suspicions: number } => {
    const sim = cluster(20, 6, { config: { fallbackPing } })
    sim.run(2000)
    assert.ok(sim.allSeeAllAlive())
    for (const i of blocked) sim.net.blockDatagramsTo(name(i))
    let suspicions = 0
    sim.onEvent = (_node, e) => { if (e.kind === 'suspect' || e.kind === 'fail') suspicions++ }
    sim.run(60_000)
    if (fallbackPing) assert.ok(sim.allSeeAllAlive())
    return { suspicions }
  }
  // One node firewalled (every probe of it fails, and its own probes' acks are lost), then all of them.
  for (const blocked of [[5], Array.from({ length: 20 }, (_, i) => i)]) {
    const on = count(true, blocked)
    const off = count(false, blocked)
    console.log(`  UDP blocked to ${blocked.length}: suspicions ${on.suspicions} with the fallback, ${off.suspicions} without`)
    assert.is(on.suspicions, 0)
    assert.ok(off.suspicions > 0, 'without the fallback the firewalled nodes are suspected')
  }
})

test('partition longer than the suspicion timeout heals into one view', () => {
  const sim = cluster(12, 5)
  sim.run(2000)
  const left = Array.from({ length: 6 }, (_, i) => name(i))
  const right = Array.from({ length: 6 }, (_, i) => name(i + 6))
  sim.partition([left, right])
  sim.run(20_000)
  assert.is(sim.core(name(0)).get(name(7))?.status, 'dead')
  assert.is(sim.core(name(7)).get(name(0))?.status, 'dead')
  assert.is(sim.core(name(0)).counts().alive, 6)
  sim.heal()
  const t = sim.runUntil(() => sim.allSeeAllAlive() && sim.checksumsAgree(), 30_000, 50)
  console.log(`  partition: one view ${t} ms (virtual) after healing`)
  assert.ok(t !== undefined, 'healed')
})

test('pauses: a short stall is tolerated, a long one is detected and refuted on resume', () => {
  const sim = cluster(10, 6)
  sim.run(2000)
  let failures = 0
  sim.onEvent = (_node, e) => { if (e.kind === 'fail') failures++ }
  sim.pause(name(3))
  sim.run(400)
  sim.resume(name(3))
  sim.run(5000)
  assert.is(failures, 0)
  assert.ok(sim.allSeeAllAlive())
  const before = sim.core(name(3)).incarnation()
  sim.pause(name(3))
  sim.run(10_000)
  assert.is(sim.core(name(0)).get(name(3))?.status, 'dead')
  sim.resume(name(3))
  const t = sim.runUntil(() => sim.allSeeAllAlive(), 10_000)
  assert.ok(t !== undefined)
  assert.ok(sim.core(name(3)).incarnation() > before)
})

/** Suspicion and fail events about live nodes while each of 20 nodes alternates short runs (10–70 ms) and random stalls (up to 800 ms) for 20 s. */
function starve (config: Partial<MembershipConfig>, seed = 12): { suspects: number, fails: number } {
  const sim = cluster(20, seed, { config })
  sim.run(3000)
  assert.ok(sim.allSeeAllAlive())
  const count = { suspects: 0, fails: 0 }
  sim.onEvent = (_node, e) => { if (e.kind === 'suspect') count.suspects++; if (e.kind === 'fail') count.fails++ }
  const random = createPrng(99)
  const ids = sim.running().map(n => n.id)
  const switchAt = new Map(ids.map(id => [id, sim.now + random() * 70]))
  const end = sim.now + 20_000
  while (sim.now < end) {
    for (const id of ids) {
      if (sim.now < (switchAt.get(id) ?? 0)) continue
      const stall = sim.node(id).state === 'running'
      if (stall) sim.pause(id)
      else sim.resume(id)
      switchAt.set(id, sim.now + (stall ? random() * 800 : 10 + random() * 60))
    }
    sim.run(5)
  }
  for (const id of ids) sim.resume(id)
  return count
}

test('a starved box (every node stalls up to 800 ms between 10–70 ms slices): late-tick awareness cuts suspicions of live nodes', () => {
  // The accusation rule off, to see this one alone.
  const withRule = starve({ awarenessOnLateTicks: true, accuseHoldAfterStall: 0 })
  const without = starve({ awarenessOnLateTicks: false, accuseHoldAfterStall: 0 })
  console.log(`  starved: suspicion events ${without.suspects} → ${withRule.suspects}, fail verdicts ${without.fails} → ${withRule.fails}`)
  assert.is(withRule.fails, 0)
  assert.ok(withRule.suspects * 2 < without.suspects, JSON.stringify({ withRule, without }))
})

test('a starved box: starved nodes holding their accusations cut suspicions of live nodes further; a crash is still seen as fast', () => {
  const seeds = [2, 3, 12]
  const on = seeds.map(seed => starve({}, seed))
  const off = seeds.map(seed => starve({ accuseHoldAfterStall: 0 }, seed))
  const total = (xs: Array<{ suspects: number }>): number => xs.reduce((a, x) => a + x.suspects, 0)
  console.log(`  starved, accusations held while starved: suspicion events ${total(off)} → ${total(on)} (seeds ${seeds.join(', ')})`)
  assert.ok(on.every(x => x.fails === 0))
  assert.ok(total(on) * 2 < total(off), JSON.stringify({ on, off }))
  // A healthy cluster: the crash detection the rule must not slow.
  const detect = (config: Partial<MembershipConfig>): number | undefined => {
    const sim = cluster(50, 5, { config })
    sim.run(5000)
    const victim = name(7)
    sim.crash(victim)
    return sim.runUntil(() => sim.running().filter(x => x.id !== victim).every(x => sim.core(x.id).get(victim)?.status === 'dead'), 30_000, 10)
  }
  assert.equal(detect({}), detect({ accuseHoldAfterStall: 0 }))
})

test('restart: a crashed node comes back with its persisted incarnation + 1 and is alive everywhere', () => {
  const sim = cluster(10, 7)
  sim.run(2000)
  const n = name(4)
  sim.core(n).updateSelf({ meta: new Uint8Array([4, 4]) }, sim.now) // raise it above 0 first
  sim.run(500)
  const persisted = sim.node(n).persisted
  assert.is(persisted, 1)
  sim.crash(n)
  sim.runUntil(() => sim.running().every(x => x.core.get(n)?.status === 'dead'), 10_000)
  sim.restart(n, name(0))
  assert.is(sim.core(n).incarnation(), 2)
  const t = sim.runUntil(() => sim.allSeeAllAlive() && sim.checksumsAgree(), 5_000)
  assert.ok(t !== undefined)
  for (const x of sim.running()) assert.is(x.core.get(n)?.incarnation, 2)
})

test('same seed, same run: the simulator is deterministic', () => {
  const run = (): string => {
    const sim = cluster(10, 8, { network: { loss: 0.05 } })
    sim.crash(name(5))
    sim.run(5000)
    return JSON.stringify([sim.now, sim.stats, sim.running().map(n => n.core.checksum())])
  }
  assert.is(run(), run())
})

test.run()
