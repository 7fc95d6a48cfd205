// Simulated membership figures at N = 50, 500 and 2000 (virtual time, same core
// code as the agent): join convergence through one seed, kill → every survivor
// marks the node dead, false positives, and per-node message load. Prints JSON.
//   node build/bench/membership-sim.js [--nodes 50,500,2000] [--seed 1] [--wire auto|on|off] [--kills 3] [--probe-observers K]
// Network model: direct messages 2–5 ms, gossip 20–50 ms, gossipsub grafting of a
// joiner within 0–300 ms. The lossy phase drops 5 % of direct messages for 30 s.
import { parseArgs } from 'node:util'
import { pushPullPeriod, resolveConfig, suspicionMinTimeout } from '../protocol/membership/index.js'
import { Simulation } from '../test/sim/simulator.js'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '50,500,2000' },
    seed: { type: 'string', default: '1' },
    wire: { type: 'string', default: 'auto' },
    kills: { type: 'string', default: '3' },
    'probe-observers': { type: 'string' }
  }
})
const sizes = values.nodes.split(',').map(Number)
const seed = Number(values.seed)
const overrides = values['probe-observers'] !== undefined ? { probeObservers: Number(values['probe-observers']) } : {}

const name = (i: number): string => `12D3KooW${String(i).padStart(8, '0')}`

function quantiles (xs: number[]): { min: number, p50: number, p99: number, max: number } {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number): number => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))])
  return { min: at(0), p50: at(0.5), p99: at(0.99), max: Math.round(s[s.length - 1]) }
}

function runOne (n: number): Record<string, unknown> {
  const started = performance.now()
  // The codec round trip costs O(N) per push-pull; keep it for the small run only unless asked.
  const wire = values.wire === 'on' || (values.wire === 'auto' && n <= 50)
  const sim = new Simulation({ seed: seed + n, wire, network: { meshDelay: 300 }, config: overrides })
  const cfg = resolveConfig(overrides)
  // Joins spread over ~2 s (at most one per 10 ms), all through the first node.
  const gap = Math.min(10, 2000 / n)
  sim.addNode(name(0))
  for (let i = 1; i < n; i++) {
    sim.run(gap)
    sim.addNode(name(i), name(0))
  }
  const joinedAt = sim.now
  const joinMs = sim.runUntil(() => sim.allSeeAllAlive(), 30_000, 10)
  const checksumMs = sim.runUntil(() => sim.checksumsAgree(), 30_000, 50)
  // Push-pulls started by digest repair, over all nodes (restarted cores start at 0).
  const digestRepairs = (): number => [...sim.nodes.values()].reduce((sum, node) => sum + node.core.digestRepairs(), 0)
  const repairsAfterJoin = digestRepairs()

  // Steady state load over 10 s.
  sim.run(5000)
  const before = { ...sim.stats, byType: { ...sim.stats.byType } }
  const repairsBeforeSteady = digestRepairs()
  const steadyMs = 10_000
  sim.run(steadyMs)
  const perNodePerSec = (x: number, y: number): number => Number(((x - y) / n / (steadyMs / 1000)).toFixed(2))
  const steady = {
    directMsgsPerNodePerSec: perNodePerSec(sim.stats.direct, before.direct),
    gossipPublishesPerSec: (sim.stats.gossipPublished - before.gossipPublished) / (steadyMs / 1000),
    gossipDeliveriesPerNodePerSec: perNodePerSec(sim.stats.gossipDelivered, before.gossipDelivered),
    messagesByType: Object.fromEntries(Object.entries(sim.stats.byType).map(([k, v]) => [k, v - (before.byType[k] ?? 0)])),
    digestRepairs: digestRepairs() - repairsBeforeSteady
  }

  // Lossy phase: 5 % of direct messages dropped for 30 s; every failure verdict is false.
  let failVerdicts = 0
  let suspectEvents = 0
  sim.onEvent = (_node, e) => {
    if (e.kind === 'fail') failVerdicts++
    if (e.kind === 'suspect') suspectEvents++
  }
  const repairsBeforeLoss = digestRepairs()
  sim.net.loss = 0.05
  sim.run(30_000)
  sim.net.loss = 0
  const lossy = { failVerdicts, suspectEvents, reconvergedMs: sim.runUntil(() => sim.allSeeAllAlive(), 30_000, 50), digestRepairs: digestRepairs() - repairsBeforeLoss }
  const repairsBeforeKills = digestRepairs()

  // Kill nodes one after another; every survivor must mark each dead.
  const kills = []
  for (let k = 0; k < Number(values.kills); k++) {
    const victim = name(Math.floor(n / 3) + k * 7)
    const failedAt = new Map<string, number>()
    let otherFailVerdicts = 0
    sim.onEvent = (node, e) => {
      if (e.kind === 'fail' && e.member.id === victim) failedAt.set(node, sim.now)
      else if (e.kind === 'fail') otherFailVerdicts++
    }
    const deadBefore = sim.stats.byType.dead ?? 0
    const killAt = sim.now
    sim.crash(victim)
    const survivors = sim.running().length
    const allSurvivorsDeadMs = sim.runUntil(() => failedAt.size === survivors, 60_000, 10)
    kills.push({
      allSurvivorsDeadMs,
      perSurvivorMs: failedAt.size > 0 ? quantiles([...failedAt.values()].map(t => t - killAt)) : null,
      deadPublishes: (sim.stats.byType.dead ?? 0) - deadBefore,
      otherFailVerdicts
    })
    sim.run(5000)
  }

  return {
    nodes: n,
    wire,
    joinSpreadMs: Math.round(joinedAt),
    joinAllAliveMsAfterLastJoin: joinMs,
    checksumsAgreeMsAfterThat: checksumMs,
    steady,
    suspicionMinMs: Math.round(suspicionMinTimeout(cfg, n)),
    kills,
    digestRepairs: { join: repairsAfterJoin, kills: digestRepairs() - repairsBeforeKills },
    lossy,
    pushPullPeriodMs: pushPullPeriod(cfg, n),
    wallMs: Math.round(performance.now() - started)
  }
}

const results = sizes.map(runOne)
console.log(JSON.stringify({ bench: 'membership-sim', virtualTime: true, config: resolveConfig(overrides), results }, null, 1))
