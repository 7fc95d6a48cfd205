// What one gossiped membership update costs the whole box, with real agent
// processes on loopback. N agents start one by one (--join the first) and settle;
// then box CPU (utime + stime of every agent, from /proc) over W idle seconds, and
// over W seconds in which U `device set` commands, spread evenly and round-robin
// over the agents, each make one agent publish its `alive` (a new incarnation and
// meta) on the membership topic. Cost per update = (busy − idle) CPU / U. Several
// --entry bundles are measured in interleaved rounds, so drift hits all alike.
// Prints JSON.
//
//   node build/bench/gossip-cost.js [--nodes 20] [--updates 100] [--seconds 10] [--rounds 2] [--entry dist/agent.mjs]…
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { callAgent } from '../agent/socket/client.js'
import { AgentCluster, boxCpuMs, median, sleep, waitAllAlive } from './lib/agent-cluster.js'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '20' },
    updates: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    'settle-seconds': { type: 'string', default: '15' },
    entry: { type: 'string', multiple: true }
  },
  strict: true
})
const nodes = Number(values.nodes)
const updates = Number(values.updates)
const windowMs = Number(values.seconds) * 1000
const rounds = Number(values.rounds)
const settleMs = Number(values['settle-seconds']) * 1000
if (!Number.isInteger(nodes) || nodes < 2 || nodes > 100) throw new Error('--nodes: an integer 2..100')
if (!Number.isInteger(updates) || updates < 1 || updates > 10_000) throw new Error('--updates: an integer 1..10000')
if (!(windowMs >= 1000 && windowMs <= 600_000)) throw new Error('--seconds: 1..600')
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error('--rounds: an integer 1..20')
if (!(settleMs >= 0 && settleMs <= 600_000)) throw new Error('--settle-seconds: 0..600')
const entries = (values.entry ?? [join(dirname(fileURLToPath(import.meta.url)), '../agent/cli.js')]).map(e => resolve(e))
interface RoundFigures { idleMsPerSec: number, busyMsPerSec: number, cpuMsPerUpdate: number, allAliveAfter: boolean }

async function measure (cli: string): Promise<RoundFigures> {
  const cluster = new AgentCluster({ cli, agentArgs: ['--device', 'd1:100'] })
  try {
    await cluster.start(nodes, 'rolling')
    if (await waitAllAlive(cluster, nodes, 120_000) === null) throw new Error(`${cli}: the ${nodes} agents did not all see each other alive within 120 s`)
    await sleep(settleMs)
    const pids = cluster.livePids()
    let before = boxCpuMs(pids)
    await sleep(windowMs)
    const idleMs = boxCpuMs(pids) - before
    before = boxCpuMs(pids)
    const t0 = performance.now()
    for (let k = 0; k < updates; k++) {
      const agent = cluster.agents[k % nodes]
      await callAgent(agent.socket, 'device', { op: 'set', name: 'd1', weight: 101 + (k % 50) })
      const due = t0 + (k + 1) * windowMs / updates
      const now = performance.now()
      if (due > now) await sleep(due - now)
    }
    const busySeconds = (performance.now() - t0) / 1000
    const busyMs = boxCpuMs(pids) - before
    const idleMsPerSec = idleMs / (windowMs / 1000)
    return {
      idleMsPerSec: Math.round(idleMsPerSec),
      busyMsPerSec: Math.round(busyMs / busySeconds),
      cpuMsPerUpdate: Math.round((busyMs - idleMsPerSec * busySeconds) / updates * 10) / 10,
      allAliveAfter: await waitAllAlive(cluster, nodes, 10_000) !== null
    }
  } finally {
    await cluster.stop()
  }
}

const perEntry = new Map<string, RoundFigures[]>(entries.map(e => [e, []]))
for (let r = 0; r < rounds; r++) {
  for (const entry of entries) {
    (perEntry.get(entry) as RoundFigures[]).push(await measure(entry))
    process.stderr.write(`round ${r + 1}: ${entry} done\n`)
  }
}
console.log(JSON.stringify({
  bench: 'gossip-cost',
  node: process.version,
  nodes,
  updates,
  seconds: windowMs / 1000,
  results: [...perEntry].map(([entry, figures]) => ({
    entry,
    cpuMsPerUpdateMedian: median(figures.map(f => f.cpuMsPerUpdate)),
    idleMsPerSecPerAgentMedian: Math.round(median(figures.map(f => f.idleMsPerSec)) / nodes * 10) / 10,
    rounds: figures
  }))
}, null, 2))
