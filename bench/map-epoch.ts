// A new epoch end to end, with N real agent processes on 127.0.0.1: time from a
// membership change (`agent device add` on one node) until every node has
// installed the new epoch's rings (its --on-change hook stamps the time), with a
// ~5 MB object ring (2^20 partitions). Two clusters in one run:
//   swarm: the default; every node fetches from any holder and serves at once;
//   star:  --fetch-from coordinator (and enough upload slots for all), so the
//          coordinator uploads every copy itself.
// Every node's blob uploads are capped (--upload-limit, default 50 Mbit/s): N
// processes share 2 cores here, so without a cap both modes measure the same CPU
// cost of encrypting N·S bytes instead of N hosts with their own links.
// Then (swarm, first size only): one node stops, misses --missed epochs, restarts;
// time until it is ready at the newest epoch.
//
// Each node has ceil(1000 / N) devices, so the ring has ~1000 like Swift's 2^20 figure
// (a ~4.7 MB ring.gz; fewer devices compress far better). Agents run with
// --probe-interval 1000: at the default 200 ms, 50 agents' probing alone needs more
// than the 2 cores here, and overload shows up as false failures.
//
//   node build/bench/map-epoch.js [--nodes 20,50] [--upload-limit 50] [--part-power 20] [--missed 10] [--modes swarm,star]
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { callAgent } from '../agent/socket/client.js'
import { hasStarted } from '../agent/status-board.js'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '20,50' },
    'upload-limit': { type: 'string', default: '50' },
    'part-power': { type: 'string', default: '20' },
    missed: { type: 'string', default: '10' },
    modes: { type: 'string', default: 'swarm,star' },
    'probe-interval': { type: 'string', default: '1000' },
    /** Extra node flags for every agent, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
    'node-args': { type: 'string', default: '' }
  }
})
const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../agent/cli.js')
const sizes = values.nodes.split(',').map(Number)
const uploadMbit = Number(values['upload-limit'])
const partPower = Number(values['part-power'])
const missed = Number(values.missed)
const modes = values.modes.split(',') as Array<'swarm' | 'star'>
const REBALANCE_DELAY_MS = 300

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const log = (s: string): void => { process.stderr.write(s + '\n') }

async function until<T> (what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch { /* retried until the deadline */ }
    await sleep(stepMs)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

interface Node { index: number, dataDir: string, socket: string, child: ChildProcess, addr: string, id: string }

class Cluster {
  readonly nodes: Node[] = []
  private base = ''
  constructor (readonly mode: 'swarm' | 'star', readonly size: number) {}

  args (index: number, seed: string | undefined): string[] {
    return [
      '--listen', '/ip4/127.0.0.1/tcp/0', '--log-level', 'error',
      '--zone', String((index % 5) + 1), '--storage-ip', '127.0.0.1', '--storage-port', String(6000 + index),
      ...Array.from({ length: Math.ceil(1000 / this.size) }, (_, d) => ['--device', `d${d}:100`]).flat(),
      '--probe-interval', values['probe-interval'],
      '--on-change', 'echo "$RINGLEADER_EPOCH $(date +%s%3N)" >> "$RINGLEADER_RING_DIR/../hook.log"',
      '--rebalance-delay', String(REBALANCE_DELAY_MS),
      ...(uploadMbit > 0 ? ['--upload-limit', String(uploadMbit)] : []),
      ...(this.mode === 'star' ? ['--fetch-from', 'coordinator', '--upload-slots', '1024'] : []),
      ...(seed !== undefined ? ['--join', seed] : [])
    ]
  }

  async startNode (index: number, seed: string | undefined, dataDir?: string): Promise<Node> {
    const dir = dataDir ?? join(this.base, String(index))
    const nodeArgs = values['node-args'].split(' ').filter(a => a !== '')
    const child = spawn(process.execPath, [...nodeArgs, CLI, 'start', '--data-dir', dir, ...this.args(index, seed)], { stdio: ['ignore', 'ignore', 'inherit'] })
    const socket = join(dir, 'agent.sock')
    const s = await until(`agent ${index} to start`, 60_000, async () => {
      const st = await callAgent(socket, 'status', {}, { timeoutMs: 2000 }) as { nodeId: string | null, listen: string[], state: string }
      return hasStarted(st) ? st : undefined
    }, 20)
    return { index, dataDir: dir, socket, child, addr: s.listen[0], id: s.nodeId as string }
  }

  async start (n: number): Promise<void> {
    this.base = await mkdtemp(join(tmpdir(), `rl-epoch-${this.mode}-`))
    const seed = await this.startNode(0, undefined)
    this.nodes.push(seed)
    // Start the rest a few at a time: 2 cores, and each start costs ~0.5 s of CPU.
    for (let i = 1; i < n; i += 4) {
      const batch = await Promise.all(Array.from({ length: Math.min(4, n - i) }, async (_, k) => await this.startNode(i + k, seed.addr)))
      this.nodes.push(...batch)
    }
    await until(`all ${n} alive on every node`, 120_000, async () => {
      const all = await Promise.all(this.nodes.map(async x => await callAgent(x.socket, 'status', {}, { timeoutMs: 5000 }) as { members: { alive: number } }))
      return all.every(s => s.members.alive === n) ? true : undefined
    }, 250)
  }

  hookTimes (node: Node): Map<number, number> {
    const file = join(node.dataDir, 'hook.log')
    const out = new Map<number, number>()
    if (!existsSync(file)) return out
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const [e, t] = line.split(' ').map(Number)
      if (Number.isFinite(e) && Number.isFinite(t) && !out.has(e)) out.set(e, t)
    }
    return out
  }

  /** Unix ms at which each listed node's hook saw `epoch`; waits for all. */
  async installTimes (nodes: Node[], epoch: number, timeoutMs: number): Promise<number[]> {
    return await until(`epoch ${epoch} installed on ${nodes.length} nodes`, timeoutMs, () => {
      const times = nodes.map(x => this.hookTimes(x).get(epoch))
      return times.every(t => t !== undefined) ? times as number[] : undefined
    }, 25)
  }

  async bootstrap (): Promise<number> {
    const { epoch } = await callAgent(this.nodes[0].socket, 'bootstrap', { rings: [`object:${partPower}:3:0`] }, { timeoutMs: 300_000 }) as { epoch: number }
    await this.installTimes(this.nodes, epoch, 600_000)
    return epoch
  }

  /** Bytes each node fetches per epoch for the object ring: the ring.gz and the builder state. */
  async ringBytes (): Promise<{ ring: number, builder: number }> {
    const answer = await callAgent(this.nodes[0].socket, 'map') as { map: { rings: Array<{ name: string, size?: number, builderCid: string }> } }
    const ring = answer.map.rings.find(r => r.name === 'object')
    const builder = ring === undefined ? 0 : statSync(join(this.nodes[0].dataDir, 'blobs', ring.builderCid)).size
    return { ring: ring?.size ?? 0, builder }
  }

  /** One membership change on the last node; returns the new epoch and its timings. */
  async change (epoch: number, on: Node[], name: string): Promise<{ epoch: number, changeToAllMs: number, firstToAllMs: number, medianMs: number }> {
    const changer = on[on.length - 1]
    const t0 = Date.now()
    await callAgent(changer.socket, 'device', { op: 'add', name, weight: 100 }, { timeoutMs: 10_000 })
    const times = await this.installTimes(on, epoch + 1, 600_000)
    const sorted = [...times].sort((a, b) => a - b)
    return {
      epoch: epoch + 1,
      changeToAllMs: sorted[sorted.length - 1] - t0,
      // From the first install (the coordinator, right after its build) to the last: the distribution alone.
      firstToAllMs: sorted[sorted.length - 1] - sorted[0],
      medianMs: sorted[Math.floor(sorted.length / 2)] - t0
    }
  }

  async stop (): Promise<void> {
    for (const x of this.nodes) if (x.child.exitCode === null) x.child.kill('SIGTERM')
    await Promise.all(this.nodes.map(async x => {
      if (x.child.exitCode !== null) return
      const timer = setTimeout(() => { x.child.kill('SIGKILL') }, 10_000)
      await new Promise(resolve => x.child.once('exit', resolve))
      clearTimeout(timer)
    }))
    await rm(this.base, { recursive: true, force: true })
  }
}

async function restartAfterMissing (cluster: Cluster, epoch: number): Promise<{ missedEpochs: number, readyMs: number, epoch: number }> {
  const away = cluster.nodes[cluster.nodes.length - 2]
  away.child.kill('SIGTERM')
  await new Promise(resolve => away.child.once('exit', resolve))
  const others = cluster.nodes.filter(x => x !== away)
  for (let i = 0; i < missed; i++) epoch = (await cluster.change(epoch, others, `m${i}`)).epoch
  const t0 = Date.now()
  const back = await cluster.startNode(away.index, others[0].addr, away.dataDir)
  cluster.nodes[cluster.nodes.indexOf(away)] = back
  await callAgent(back.socket, 'wait-ready', { epoch, timeoutMs: 120_000 }, { timeoutMs: 125_000 })
  return { missedEpochs: missed, readyMs: Date.now() - t0, epoch }
}

const results: unknown[] = []
for (const n of sizes) {
  for (const mode of modes) {
    const cluster = new Cluster(mode, n)
    try {
      const t = Date.now()
      await cluster.start(n)
      log(`${mode} N=${n}: cluster up in ${Date.now() - t} ms`)
      let epoch = await cluster.bootstrap()
      const ringBytes = await cluster.ringBytes()
      log(`${mode} N=${n}: epoch ${epoch} everywhere, object.ring.gz ${ringBytes.ring} bytes, builder state ${ringBytes.builder} bytes`)
      const runs = []
      for (let r = 0; r < 2; r++) {
        const c = await cluster.change(epoch, cluster.nodes, `sdx${r}`)
        epoch = c.epoch
        runs.push(c)
        log(`${mode} N=${n}: change → all installed ${c.changeToAllMs} ms (distribution ${c.firstToAllMs} ms)`)
      }
      const best = runs.reduce((a, b) => (a.changeToAllMs <= b.changeToAllMs ? a : b))
      const restart = mode === 'swarm' && n === sizes[0] && missed > 0 ? await restartAfterMissing(cluster, epoch) : undefined
      if (restart !== undefined) log(`${mode} N=${n}: restart after missing ${missed} epochs → ready in ${restart.readyMs} ms`)
      results.push({
        mode, nodes: n, ringBytes, uploadLimitMbit: uploadMbit,
        changeToAllMs: best.changeToAllMs, distributionMs: best.firstToAllMs, medianMs: best.medianMs,
        runs: runs.map(x => x.changeToAllMs),
        // The coordinator uploads both blobs to N − 1 nodes at the capped rate.
        starModelMs: uploadMbit > 0 ? Math.round((n - 1) * (ringBytes.ring + ringBytes.builder) * 8 / (uploadMbit * 1e6) * 1000) : undefined,
        ...(restart !== undefined ? { restart } : {})
      })
    } finally {
      await cluster.stop()
    }
  }
}
console.log(JSON.stringify({ bench: 'map-epoch', node: process.version, partPower, results }, null, 2))
