// Membership with real agent processes on loopback, side by side with Serf in the
// same run: join time, failure detection, idle RSS / CPU / bytes per agent, and
// false positives while both cores are loaded by busy loops. Prints JSON.
//
//   node build/bench/membership.js [--nodes 5,50] [--fp-seconds 60] [--idle-seconds 10] [--no-serf] [--entry dist/agent.mjs] [--join-gap-ms 0] [--join-mode herd|rolling|boot] [--settle-seconds 4] [--agent-args "--probe-interval 1000"]
//
// --entry runs another agent script under this node (default build/agent/cli.js),
// e.g. the esbuild bundle that `npm run package` writes, which needs ~20 MB less.
// Method (the same for both systems):
// - N agents start standalone, one after another, and are all up before anything
//   is measured.
// - join: every node but the seed is told to join the seed at once (ours through
//   the socket's `join` command, i.e. `agent join` without spawning 49 CLIs; Serf
//   through `serf join`), until every node has seen every other one alive. Event
//   times are taken as the events arrive here (our `monitor` streams, Serf's own
//   log lines), so both include the same local delivery delay. With --join-gap-ms
//   our joins are spread (a rolling start) and the time after the last join is
//   reported too. Failed joins are counted; a run that does not converge within
//   60 s reports `converged: false` and skips the rest. --join-mode rolling starts
//   each agent with `--join` the first once the previous one is up (a rolling
//   start), waits until every node counts N alive, then measures the rest.
//   --join-mode boot starts the first, then all the others at once with --join the
//   first (a whole cluster powering on): the time from spawning the seed until
//   every node counts N alive (verdicts are counted from when all answer `status`).
// - idle: after the join settles, CPU (utime+stime from /proc/<pid>/stat), RSS
//   (and its anonymous, unshared part) and bytes written (wchar from /proc/<pid>/io:
//   every socket write, encryption and muxing included) over --idle-seconds.
// - churn: the same bytes written, per agent, during the herd join and during the
//   failure detection below (joinBytes, detectBytes). wchar does not count UDP
//   (sendto), so for Serf these are its TCP writes only; one Serf agent's sends,
//   UDP included, are traced with strace after the idle window
//   (oneAgentSendBytesPerSecTraced).
// - detection: kill -9 the last node; until every survivor marks it failed.
// - false positives: 2 busy-loop processes load both cores for --fp-seconds;
//   counts fail verdicts (and, for us, suspicions) about live nodes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { setMaxListeners } from 'node:events'
import { readFileSync, rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { callAgent, streamAgent } from '../agent/socket/client.js'
import { hasStarted } from '../agent/status-board.js'
import { AGENT_NODE_FLAGS, agentEnv } from '../agent/node-flags.js'
import { SerfCluster, serfAvailable, readMemoryKb, waitFor } from './lib/serf-cluster.js'
import { spawnBusyLoop, track } from './lib/children.js'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '5,50' },
    'fp-seconds': { type: 'string', default: '60' },
    'idle-seconds': { type: 'string', default: '10' },
    'no-serf': { type: 'boolean', default: false },
    entry: { type: 'string' },
    /** herd: all agents up, then told to join at once (or --join-gap-ms apart); rolling: each started with --join; boot: all but the seed started at once with --join. */
    'join-mode': { type: 'string', default: 'herd' },
    /** Our nodes join the seed this many ms apart (0: all at once). Serf always joins at once. */
    'join-gap-ms': { type: 'string', default: '0' },
    /** Extra `agent start` flags, e.g. "--probe-interval 1000". */
    'agent-args': { type: 'string', default: '' },
    /** Wait this long after convergence before the idle, detection and loaded figures (default 4: past the follow-ups). */
    'settle-seconds': { type: 'string', default: '4' }
  },
  strict: true
})
const sizes = values.nodes.split(',').map(Number)
const fpMs = Number(values['fp-seconds']) * 1000
const idleMs = Number(values['idle-seconds']) * 1000
const joinGapMs = Number(values['join-gap-ms'])
if (!(joinGapMs >= 0 && joinGapMs <= 10_000)) throw new Error('--join-gap-ms: 0..10000')
const settleWaitMs = Number(values['settle-seconds']) * 1000
if (!(settleWaitMs >= 0 && settleWaitMs <= 600_000)) throw new Error('--settle-seconds: 0..600')
const joinMode = values['join-mode']
if (joinMode !== 'herd' && joinMode !== 'rolling' && joinMode !== 'boot') throw new Error('--join-mode: herd, rolling or boot')
if (!sizes.every(n => Number.isInteger(n) && n >= 2 && n <= 100) || !(fpMs >= 0) || !(idleMs > 0)) {
  throw new Error('--nodes: integers 2..100, comma-separated; --fp-seconds >= 0; --idle-seconds > 0')
}
const CLI = resolve(values.entry ?? join(dirname(fileURLToPath(import.meta.url)), '../agent/cli.js'))
const TICKS_PER_SECOND = 100 // Linux USER_HZ

// ---------------------------------------------------------------- /proc helpers

function cpuTicks (pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12]) // utime + stime (fields 14, 15)
  } catch { return NaN }
}

function wcharBytes (pid: number): number {
  try {
    return Number(/wchar:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? NaN)
  } catch { return NaN }
}

interface IdleFigures { cpuPercentMedian: number, cpuPercentMax: number, rssMbMedian: number, rssMbMax: number, anonMbMedian: number, writeBytesPerSecMedian: number }

async function measureIdle (pids: number[], ms: number): Promise<IdleFigures> {
  const cpu0 = pids.map(cpuTicks)
  const io0 = pids.map(wcharBytes)
  await sleep(ms)
  const cpu = pids.map((p, i) => (cpuTicks(p) - cpu0[i]) / TICKS_PER_SECOND / (ms / 1000) * 100)
  const io = pids.map((p, i) => (wcharBytes(p) - io0[i]) / (ms / 1000))
  const memory = pids.map(readMemoryKb)
  const rss = memory.map(m => m.rssKb / 1024)
  return {
    cpuPercentMedian: round(median(cpu), 2),
    cpuPercentMax: round(Math.max(...cpu), 2),
    rssMbMedian: round(median(rss), 1),
    rssMbMax: round(Math.max(...rss), 1),
    // The part of RSS no other process shares (see readMemoryKb).
    anonMbMedian: round(median(memory.map(m => m.anonKb / 1024)), 1),
    writeBytesPerSecMedian: Math.round(median(io))
  }
}

/**
 * Bytes each process writes (wchar) while `work` runs: the churn figure. Median over
 * the processes alive at the end, total and per second of the window.
 */
async function bytesDuring<T> (pids: number[], work: () => Promise<T>): Promise<{ result: T, churnBytes: { perAgentMedian: number, perAgentPerSecMedian: number, seconds: number } }> {
  const before = pids.map(wcharBytes)
  const t0 = performance.now()
  const result = await work()
  const seconds = (performance.now() - t0) / 1000
  const written = pids.map((p, i) => wcharBytes(p) - before[i]).filter(b => Number.isFinite(b))
  const perAgent = median(written)
  return { result, churnBytes: { perAgentMedian: Math.round(perAgent), perAgentPerSecMedian: Math.round(perAgent / seconds), seconds: round(seconds, 2) } }
}

/**
 * Bytes one process sends over `seconds`, UDP included, traced with strace (null
 * without it). wchar counts write/writev only, so it sees Serf's TCP push-pulls but
 * not its UDP probes and gossip (sendto), which are nearly all its traffic.
 */
function tracedSendBytesPerSec (pid: number, seconds: number): number | null {
  const out = join(tmpdir(), `rl-strace-${pid}.txt`)
  const r = spawnSync('timeout', ['-s', 'INT', String(seconds), 'strace', '-f', '-qq', '-e', 'trace=sendto,sendmsg,write,writev', '-o', out, '-p', String(pid)])
  if (r.error !== undefined) return null
  let total = 0
  try {
    for (const line of readFileSync(out, 'utf8').split('\n')) {
      const m = /^\d+ +(?:sendto|sendmsg|write|writev)\(.*= (\d+)$/.exec(line)
      if (m !== null) total += Number(m[1])
    }
  } catch { return null } finally { rmSync(out, { force: true }) }
  return Math.round(total / seconds)
}

function startLoad (): ChildProcess[] {
  return [0, 1].map(() => spawnBusyLoop())
}

function stopLoad (load: ChildProcess[]): void {
  for (const p of load) p.kill('SIGKILL')
}

// ---------------------------------------------------------------- our agents

interface Agent { dataDir: string, socket: string, child: ChildProcess, id: string, addr: string, pid: number }
interface MonitorEvent { kind: string, id: string, status: string }

class AgentCluster {
  readonly agents: Agent[] = []
  /** per agent: member id → status as its events said. */
  readonly views: Array<Map<string, string>> = []
  /** per agent: time (performance.now) when it first saw every other agent alive. */
  readonly allAliveAt: Array<number | undefined> = []
  readonly failedAt: Array<Map<string, number>> = []
  readonly suspected: Array<Set<string>> = []
  private readonly stopMonitors = new AbortController()
  private base = ''

  constructor () {
    // One monitor stream per agent listens on this signal: 50 of them are expected.
    setMaxListeners(0, this.stopMonitors.signal)
  }

  /**
   * Starts n agents: one after another, standalone or (`rolling`) each but the first
   * with `--join` the first; or (`boot`) the first, then all the others at once, each
   * with `--join` the first, as when a whole cluster powers on.
   */
  async start (n: number, mode: 'standalone' | 'rolling' | 'boot' = 'standalone'): Promise<void> {
    this.base = await mkdtemp(join(tmpdir(), 'rl-mbench-'))
    if (mode === 'boot') {
      this.agents.push(await this.waitUp(this.spawnAgent(0, []), 30_000))
      const seed = ['--join', this.agents[0].addr]
      const rest = Array.from({ length: n - 1 }, (_, k) => this.spawnAgent(k + 1, seed))
      // Fifty node processes loading at once on two cores take a while to answer.
      this.agents.push(...await Promise.all(rest.map(async spawned => await this.waitUp(spawned, 300_000))))
    } else {
      for (let i = 0; i < n; i++) {
        this.agents.push(await this.waitUp(this.spawnAgent(i, mode === 'rolling' && i > 0 ? ['--join', this.agents[0].addr] : []), 30_000))
      }
    }
    const ids = this.agents.map(a => a.id)
    this.agents.forEach((a, i) => {
      const view = new Map<string, string>([[a.id, 'alive']])
      this.views.push(view)
      this.allAliveAt.push(undefined)
      this.failedAt.push(new Map())
      this.suspected.push(new Set())
      void streamAgent(a.socket, 'monitor', {}, (raw) => {
        const e = raw as MonitorEvent
        const at = performance.now()
        view.set(e.id, e.status)
        if (e.kind === 'fail' && !this.failedAt[i].has(e.id)) this.failedAt[i].set(e.id, at)
        if (e.kind === 'suspect') this.suspected[i].add(e.id)
        if (this.allAliveAt[i] === undefined && ids.every(id => view.get(id) === 'alive')) this.allAliveAt[i] = at
      }, { signal: this.stopMonitors.signal }).catch(() => {})
    })
    await sleep(200) // the monitor streams are subscribed
  }

  /**
   * Every node but the seed joins it, `gapMs` apart (0: all at once). Failed joins are
   * counted, not fatal, and a cluster that has not converged after `timeoutMs` is
   * reported as such (allMs null), so an overloaded run still yields figures.
   */
  async joinAllThroughSeed (gapMs: number, timeoutMs = 60_000): Promise<{ allMs: number | null, medianMs: number | null, afterLastJoinMs: number | null, failedJoins: number, firstError?: string }> {
    const seed = this.agents[0]
    const t0 = performance.now()
    let lastSentAt = t0
    const results = await Promise.allSettled(this.agents.slice(1).map(async (a, i) => {
      if (gapMs > 0) await sleep(i * gapMs)
      lastSentAt = Math.max(lastSentAt, performance.now())
      return await callAgent(a.socket, 'join', { addrs: [seed.addr] }, { timeoutMs: 60_000 }) // as `agent join` waits
    }))
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    try {
      await waitFor(() => this.allAliveAt.every(t => t !== undefined), timeoutMs, 'every agent to see all alive', 5)
    } catch { /* reported below */ }
    const seen = this.allAliveAt.slice(1).filter((t): t is number => t !== undefined)
    const converged = seen.length === this.agents.length - 1 && this.allAliveAt[0] !== undefined
    const times = seen.map(t => t - t0)
    return {
      allMs: converged ? Math.max(...times) : null,
      medianMs: times.length > 0 ? median(times) : null,
      afterLastJoinMs: converged ? Math.max(...seen, this.allAliveAt[0] as number) - lastSentAt : null,
      failedJoins: failed.length,
      ...(failed.length > 0 ? { firstError: String(failed[0].reason).slice(0, 200) } : {})
    }
  }

  async killAndDetect (index: number, timeoutMs = 30_000): Promise<{ allMs: number, firstMs: number }> {
    const victim = this.agents[index]
    const t0 = performance.now()
    victim.child.kill('SIGKILL')
    const survivors = this.agents.map((_, i) => i).filter(i => i !== index)
    await waitFor(() => survivors.every(i => this.failedAt[i].has(victim.id)), timeoutMs, 'survivors to mark the victim failed', 5)
    const times = survivors.map(i => (this.failedAt[i].get(victim.id) as number) - t0)
    return { allMs: Math.max(...times), firstMs: Math.min(...times) }
  }

  /** Fail verdicts and suspicions about agents that are still running. */
  falsePositives (): { fails: number, suspects: number } {
    const live = new Set(this.agents.filter(a => a.child.exitCode === null && a.child.signalCode === null).map(a => a.id))
    let fails = 0
    let suspects = 0
    this.failedAt.forEach(m => { for (const id of m.keys()) if (live.has(id)) fails++ })
    this.suspected.forEach(s => { for (const id of s) if (live.has(id)) suspects++ })
    return { fails, suspects }
  }

  resetSuspicions (): void { for (const s of this.suspected) s.clear() }

  /** Forgets fail verdicts and suspicions seen so far (those of the build-up are reported separately). */
  resetVerdicts (): { fails: number, suspects: number } {
    const before = this.falsePositives()
    for (const m of this.failedAt) m.clear()
    this.resetSuspicions()
    return before
  }

  private spawnAgent (i: number, joinArgs: string[]): { i: number, dataDir: string, child: ChildProcess } {
    const dataDir = join(this.base, String(i))
    const child = track(spawn(process.execPath, [...AGENT_NODE_FLAGS, CLI, 'start', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--log-level', 'error', ...joinArgs, ...values['agent-args'].split(' ').filter(a => a !== '')], { stdio: ['ignore', 'ignore', 'inherit'], env: agentEnv() }))
    return { i, dataDir, child }
  }

  /** Waits until the agent's components are up (its state has left `starting`). */
  private async waitUp (spawned: { i: number, dataDir: string, child: ChildProcess }, timeoutMs: number): Promise<Agent> {
    const { i, dataDir, child } = spawned
    const socket = join(dataDir, 'agent.sock')
    const deadline = Date.now() + timeoutMs
    let status: { nodeId: string | null, listen: string[], state?: string } | undefined
    while (Date.now() < deadline) {
      try {
        status = await callAgent(socket, 'status', {}, { timeoutMs: 2000 }) as { nodeId: string | null, listen: string[], state?: string }
        if (hasStarted(status)) break
      } catch { /* not up yet */ }
      await sleep(20)
    }
    if (status?.nodeId == null) throw new Error(`agent ${i} did not start within ${timeoutMs / 1000} s`)
    return { dataDir, socket, child, id: status.nodeId, addr: status.listen[0], pid: child.pid as number }
  }

  livePids (): number[] { return this.agents.filter(a => a.child.exitCode === null && a.child.signalCode === null).map(a => a.pid) }

  async appBytes (): Promise<number[]> {
    return await Promise.all(this.agents.filter(a => a.child.exitCode === null && a.child.signalCode === null).map(async a => {
      const s = await callAgent(a.socket, 'status') as { membership: { bytesIn: number, bytesOut: number } }
      return s.membership.bytesOut
    }))
  }

  async stop (): Promise<void> {
    this.stopMonitors.abort()
    await Promise.all(this.agents.map(async a => {
      if (a.child.exitCode !== null || a.child.signalCode !== null) return
      const exited = new Promise<void>(resolve => a.child.once('exit', () => { resolve() }))
      a.child.kill('SIGKILL')
      await exited
    }))
    if (this.base !== '') await rm(this.base, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------- runs

/** Rolling start: waits (polling status) until every agent counts n alive; ms after the last agent was up, or null. */
async function waitAllAlive (c: AgentCluster, n: number, timeoutMs: number): Promise<number | null> {
  const t0 = performance.now()
  while (performance.now() - t0 < timeoutMs) {
    const alive = await Promise.all(c.agents.map(async a => {
      try { return ((await callAgent(a.socket, 'status', {}, { timeoutMs: 2000 })) as { members: { alive: number } }).members.alive } catch { return -1 }
    }))
    if (alive.every(x => x === n)) return Math.round(performance.now() - t0)
    await sleep(200)
  }
  return null
}

async function benchOurs (n: number): Promise<Record<string, unknown>> {
  const c = new AgentCluster()
  try {
    if (joinMode === 'boot' || joinMode === 'rolling') {
      const started = performance.now()
      await c.start(n, joinMode)
      const startMs = Math.round(performance.now() - started)
      const settleMs = await waitAllAlive(c, n, 600_000)
      if (settleMs === null) return { joinMode, startMs, converged: false }
      // boot: startMs is from spawning the seed until all answer; rolling: the whole one-by-one start.
      const settled = joinMode === 'boot' ? { allAliveMsAfterSpawn: startMs + settleMs } : { allAliveMsAfterLastStart: settleMs }
      return { joinMode, startMs, ...settled, ...await measureSettled(c, n) }
    }
    await c.start(n)
    const { result: joinMs, churnBytes: joinBytes } = await bytesDuring(c.livePids(), async () => await c.joinAllThroughSeed(joinGapMs))
    if (joinMs.allMs === null) return { join: joinMs, converged: false }
    return {
      joinAllMs: Math.round(joinMs.allMs),
      joinBytes,
      joinMedianMs: Math.round(joinMs.medianMs ?? NaN),
      ...(joinGapMs > 0 ? { joinGapMs, joinAfterLastMs: Math.round(joinMs.afterLastJoinMs ?? NaN) } : {}),
      failedJoins: joinMs.failedJoins,
      ...await measureSettled(c, n)
    }
  } finally { await c.stop() }
}

/** Idle figures, kill -9 detection and false positives of a cluster that has converged. */
async function measureSettled (c: AgentCluster, n: number): Promise<Record<string, unknown>> {
  {
    await sleep(settleWaitMs) // past the joiners' follow-up push-pulls (0.25, 1, 3 s) at least
    const whileJoining = c.resetVerdicts()
    const bytes0 = await c.appBytes()
    const idle = await measureIdle(c.livePids(), idleMs)
    const bytes1 = await c.appBytes()
    const appBytesPerSec = median(bytes1.map((b, i) => (b - bytes0[i]) / (idleMs / 1000)))
    const suspectsBeforeKill = c.falsePositives().suspects
    const { result: detect, churnBytes: detectBytes } = await bytesDuring(c.livePids(), async () => await c.killAndDetect(n - 1))
    await sleep(1000)
    c.resetSuspicions()
    const fp = await falsePositiveRun(() => c.falsePositives())
    return {
      detectAllMs: Math.round(detect.allMs),
      detectFirstMs: Math.round(detect.firstMs),
      detectBytes,
      idle: { ...idle, appBytesOutPerSecMedian: Math.round(appBytesPerSec) },
      verdictsAboutLiveNodesWhileJoining: whileJoining,
      suspicionsOfLiveNodesWhileIdle: suspectsBeforeKill,
      loaded: fp
    }
  }
}

async function benchSerf (n: number): Promise<Record<string, unknown>> {
  const c = new SerfCluster()
  try {
    await c.start(n)
    const pids = c.nodes.map(x => x.proc.pid as number)
    const { result: joinMs, churnBytes: joinBytes } = await bytesDuring(pids, async () => await c.joinAllThroughSeed())
    await sleep(4000)
    const idle = await measureIdle(pids, idleMs)
    const sendBytesPerSecTraced = tracedSendBytesPerSec(pids[1], idleMs / 1000)
    const { result: detect, churnBytes: detectBytes } = await bytesDuring(pids, async () => await c.killAndDetect(n - 1))
    await sleep(1000)
    const fp = await falsePositiveRun(() => ({ fails: c.falsePositives() }))
    return {
      joinAllMs: Math.round(joinMs),
      joinBytes,
      detectAllMs: Math.round(detect.allMs),
      detectFirstMs: Math.round(detect.firstMs),
      detectBytes,
      // writeBytesPerSecMedian and the churn bytes miss Serf's UDP: see tracedSendBytesPerSec.
      idle: { ...idle, oneAgentSendBytesPerSecTraced: sendBytesPerSecTraced },
      loaded: fp
    }
  } finally { await c.stop() }
}

async function falsePositiveRun<T> (count: () => T): Promise<{ seconds: number } & T | { seconds: 0 }> {
  if (fpMs === 0) return { seconds: 0 }
  const load = startLoad()
  try {
    await sleep(fpMs)
  } finally { stopLoad(load) }
  await sleep(2000) // verdicts reached during the load still arrive
  return { seconds: fpMs / 1000, ...count() }
}

const withSerf = values['no-serf'] !== true && serfAvailable()
const out: Record<string, unknown> = {
  bench: 'membership',
  node: process.version,
  cores: (await import('node:os')).cpus().length,
  entry: CLI,
  fpSeconds: fpMs / 1000,
  idleSeconds: idleMs / 1000,
  serf: withSerf ? 'serf 0.8 (Debian)' : 'skipped',
  results: [] as unknown[]
}
for (const n of sizes) {
  const ours = await benchOurs(n)
  const serf = withSerf ? await benchSerf(n) : undefined
  ;(out.results as unknown[]).push({ nodes: n, ringleader: ours, ...(serf !== undefined ? { serf } : {}) })
  process.stderr.write(`done N=${n}\n`)
}
console.log(JSON.stringify(out, null, 2))

// ---------------------------------------------------------------- small helpers

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]
}
function round (x: number, digits: number): number { return Number(x.toFixed(digits)) }
async function sleep (ms: number): Promise<void> { await new Promise(resolve => setTimeout(resolve, ms)) }
