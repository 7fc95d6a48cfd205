// What a herd join costs the libp2p stack alone on this box, without the membership
// protocol: the floor under bench/membership.ts's N = 50 herd. N processes, each the
// agent's own libp2p node (bench/lib/herd-floor-node.ts: createNode with the agent's
// noise, yamux, identify and gossipsub settings, the agent's V8 flags) and nothing
// else: no probes, no anti-entropy, no sampler, no disk, no events. Like the herd,
// all N−1 joiners are told at once to join one seed; each dials it and asks for the
// ids it knows, and the seed spreads each newcomer's id to everyone connected so far:
// - gossip: one gossipsub publish (StrictSign; flood publish reaches every connected
//   subscriber), as the agent announces a joiner;
// - direct: one length-prefixed message per connected peer on a long-lived stream
//   (agent/net/message-channel.ts): the cheapest spreading libp2p offers, one copy each.
// A joiner short of ids that hears nothing new for 500 ms asks the seed again
// (counted as repairs). Measured: from the joins until every node knows all N ids,
// and the box's CPU (every process, /proc) over that time. Variants run in
// interleaved rounds so drift hits all alike. Prints JSON.
//
//   node build/bench/herd-floor.js [--nodes 50] [--spread gossip,direct] [--rounds 2]
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { AGENT_NODE_FLAGS, agentEnv } from '../agent/node-flags.js'
import { track } from './lib/children.js'
import { boxCpuMs, median, sleep } from './lib/agent-cluster.js'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '50' },
    spread: { type: 'string', default: 'gossip,direct' },
    rounds: { type: 'string', default: '2' },
    'timeout-seconds': { type: 'string', default: '60' }
  },
  strict: true
})
const nodes = Number(values.nodes)
const spreads = values.spread.split(',')
const rounds = Number(values.rounds)
const timeoutMs = Number(values['timeout-seconds']) * 1000
if (!Number.isInteger(nodes) || nodes < 2 || nodes > 200) throw new Error('--nodes: an integer 2..200')
if (spreads.length === 0 || !spreads.every(s => s === 'gossip' || s === 'direct')) throw new Error('--spread: a comma-separated list of gossip, direct')
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error('--rounds: an integer 1..20')
if (!(timeoutMs >= 1000 && timeoutMs <= 600_000)) throw new Error('--timeout-seconds: 1..600')

const NODE_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'lib/herd-floor-node.js')
/** Quiet time between all processes being up and the joins: their start-up and warm-up settle. */
const SETTLE_MS = 2000

interface FloorProcess { child: ChildProcess, addr: string, doneAt?: number, repairs?: number, error?: string }

/** Starts one process and resolves once it reports ready; later reports update `p`. */
async function launch (role: 'seed' | 'joiner', spread: string): Promise<FloorProcess> {
  const child = track(spawn(process.execPath, [...AGENT_NODE_FLAGS, NODE_SCRIPT, '--role', role, '--nodes', String(nodes), '--spread', spread], { env: agentEnv(), stdio: ['pipe', 'pipe', 'inherit'] }))
  return await new Promise((resolve, reject) => {
    const p: FloorProcess = { child, addr: '' }
    const timer = setTimeout(() => { reject(new Error(`a ${role} did not start within 60 s`)) }, 60_000)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`a ${role} exited (${code ?? 'signal'}) before it was ready`)) })
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let r: { ready?: string, done?: boolean, repairs?: number, error?: string }
      try { r = JSON.parse(line) } catch { return } // not a report (a library writing to stdout)
      if (r.ready !== undefined) { p.addr = r.ready; clearTimeout(timer); resolve(p) }
      if (r.done === true) p.doneAt = performance.now()
      if (r.repairs !== undefined) p.repairs = r.repairs
      if (r.error !== undefined) p.error ??= r.error
    })
  })
}

async function stopAll (ps: FloorProcess[]): Promise<void> {
  await Promise.all(ps.map(async p => {
    if (p.child.exitCode !== null) return
    const exited = new Promise(resolve => p.child.once('exit', resolve))
    p.child.stdin?.end()
    await Promise.race([exited, sleep(5000)])
    if (p.child.exitCode === null) p.child.kill('SIGKILL')
  }))
}

interface HerdFigures { spread: string, allKnowAllMs: number | null, medianMs: number | null, boxCpuSeconds: number, repairs: number, errors: number, firstError?: string }

async function herd (spread: string): Promise<HerdFigures> {
  const seed = await launch('seed', spread)
  const ps = [seed, ...await Promise.all(Array.from({ length: nodes - 1 }, async () => await launch('joiner', spread)))]
  let times: number[]
  let cpuMs: number
  try {
    await sleep(SETTLE_MS)
    const pids = ps.map(p => p.child.pid as number)
    const cpuBefore = boxCpuMs(pids)
    const t0 = performance.now()
    for (const p of ps.slice(1)) p.child.stdin?.write(JSON.stringify({ go: seed.addr }) + '\n')
    const deadline = t0 + timeoutMs
    while (performance.now() < deadline && !ps.every(p => p.doneAt !== undefined)) await sleep(5)
    cpuMs = boxCpuMs(pids) - cpuBefore
    times = ps.filter(p => p.doneAt !== undefined).map(p => (p.doneAt as number) - t0)
  } finally {
    await stopAll(ps) // each reports its repairs as it stops
  }
  const errors = ps.filter(p => p.error !== undefined)
  return {
    spread,
    allKnowAllMs: times.length === ps.length ? Math.round(Math.max(...times)) : null,
    medianMs: times.length > 0 ? Math.round(median(times)) : null,
    boxCpuSeconds: Math.round(cpuMs / 10) / 100,
    repairs: ps.reduce((s, p) => s + (p.repairs ?? 0), 0),
    errors: errors.length,
    ...(errors.length > 0 ? { firstError: errors[0].error } : {})
  }
}

const results: HerdFigures[] = []
for (let r = 0; r < rounds; r++) {
  for (const spread of spreads) {
    results.push(await herd(spread))
    await sleep(1000)
  }
}
console.log(JSON.stringify({ bench: 'herd-floor', node: process.version, nodes, rounds, results }, null, 2))
