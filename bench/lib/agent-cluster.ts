// N ringleader agent processes on loopback for the benchmarks: started standalone,
// one by one with --join the first (rolling), or the seed then all the others at
// once (boot); each one's `monitor` stream feeds a per-agent view of the cluster.
import { spawn, type ChildProcess } from 'node:child_process'
import { setMaxListeners } from 'node:events'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { callAgent, streamAgent } from '../../agent/socket/client.js'
import { hasStarted } from '../../agent/status-board.js'
import { AGENT_NODE_FLAGS, agentEnv } from '../../agent/node-flags.js'
import { waitFor } from './serf-cluster.js'
import { track } from './children.js'

export interface AgentClusterOptions {
  /** The agent script run under this node (build/agent/cli.js or a bundle). */
  cli: string
  /** Extra `agent start` flags. */
  agentArgs?: readonly string[]
}

export interface Agent { dataDir: string, socket: string, child: ChildProcess, id: string, addr: string, pid: number }
interface MonitorEvent { kind: string, id: string, status: string }

export class AgentCluster {
  readonly agents: Agent[] = []
  /** per agent: member id → status as its events said. */
  readonly views: Array<Map<string, string>> = []
  /** per agent: time (performance.now) when it first saw every other agent alive. */
  readonly allAliveAt: Array<number | undefined> = []
  readonly failedAt: Array<Map<string, number>> = []
  readonly suspected: Array<Set<string>> = []
  private readonly stopMonitors = new AbortController()
  private base = ''

  constructor (private readonly opts: AgentClusterOptions) {
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
  async joinAllThroughSeed (gapMs: number, timeoutMs = 60_000): Promise<{ allMs: number | null, medianMs: number | null, afterLastJoinMs: number | null, failedJoins: number, firstError?: string, joinReturnedMs: { median: number, max: number } }> {
    const seed = this.agents[0]
    const t0 = performance.now()
    let lastSentAt = t0
    const returnedAt: number[] = []
    const results = await Promise.allSettled(this.agents.slice(1).map(async (a, i) => {
      if (gapMs > 0) await sleep(i * gapMs)
      lastSentAt = Math.max(lastSentAt, performance.now())
      try {
        return await callAgent(a.socket, 'join', { addrs: [seed.addr] }, { timeoutMs: 60_000 }) // as `agent join` waits
      } finally { returnedAt.push(performance.now() - t0) }
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
      joinReturnedMs: { median: Math.round(median(returnedAt)), max: Math.round(Math.max(...returnedAt)) },
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
    const live = new Set(this.liveAgents().map(a => a.id))
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
    const child = track(spawn(process.execPath, [...AGENT_NODE_FLAGS, this.opts.cli, 'start', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--log-level', 'error', ...joinArgs, ...(this.opts.agentArgs ?? [])], { stdio: ['ignore', 'ignore', 'inherit'], env: agentEnv() }))
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

  /** Agents whose process has not exited. */
  liveAgents (): Agent[] { return this.agents.filter(a => a.child.exitCode === null && a.child.signalCode === null) }

  livePids (): number[] { return this.liveAgents().map(a => a.pid) }

  async appBytes (): Promise<number[]> {
    return await Promise.all(this.liveAgents().map(async a => {
      const s = await callAgent(a.socket, 'status') as { membership: { bytesIn: number, bytesOut: number } }
      return s.membership.bytesOut
    }))
  }

  /**
   * Membership messages sent so far by all live agents together: by channel
   * (gossip publishes, probe-channel and sync sends) and by type (ping, ack, alive, …),
   * and the push-pulls among them that digest repair started.
   */
  async messagesSent (): Promise<{ byChannel: Record<string, number>, byType: Record<string, number>, digestRepairs: number }> {
    const byChannel: Record<string, number> = {}
    const byType: Record<string, number> = {}
    let digestRepairs = 0
    const add = (into: Record<string, number>, from: Record<string, number> | undefined): void => {
      for (const [k, v] of Object.entries(from ?? {})) into[k] = (into[k] ?? 0) + v
    }
    await Promise.all(this.liveAgents().map(async a => {
      try {
        const s = await callAgent(a.socket, 'status', {}, { timeoutMs: 5000 }) as { membership?: { sent?: Record<string, number>, sentByType?: Record<string, number>, digestRepairs?: number } }
        add(byChannel, s.membership?.sent)
        add(byType, s.membership?.sentByType)
        digestRepairs += s.membership?.digestRepairs ?? 0
      } catch { /* an agent that does not answer is left out */ }
    }))
    return { byChannel, byType, digestRepairs }
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

/**
 * Waits (polling status) until every agent counts n alive; ms from the call, or
 * null after timeoutMs. `trace` gets [seconds, alive members missing over
 * all agents] each time that sum changes.
 */
export async function waitAllAlive (c: AgentCluster, n: number, timeoutMs: number, trace?: Array<[number, number]>): Promise<number | null> {
  const t0 = performance.now()
  while (performance.now() - t0 < timeoutMs) {
    const alive = await Promise.all(c.agents.map(async a => {
      try { return ((await callAgent(a.socket, 'status', {}, { timeoutMs: 2000 })) as { members: { alive: number } }).members.alive } catch { return -1 }
    }))
    // How far from converged: the alive members the agents are short of, summed (an agent that did not answer counts n).
    const missing = alive.reduce((sum, x) => sum + (x < 0 ? n : Math.max(0, n - x)), 0)
    if (trace !== undefined && (trace.length === 0 || trace[trace.length - 1][1] !== missing)) trace.push([Math.round((performance.now() - t0) / 100) / 10, missing])
    if (missing === 0) return Math.round(performance.now() - t0)
    await sleep(200)
  }
  return null
}

/** utime + stime of a process, in clock ticks (NaN once it is gone). */
export function cpuTicks (pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12]) // utime + stime (fields 14, 15)
  } catch { return NaN }
}

const MS_PER_TICK = 10 // USER_HZ is 100 on Linux

/**
 * CPU milliseconds (utime + stime) spent so far by `pids` together: NaN if one is
 * gone, unless `skipGone` (then it counts 0).
 */
export function boxCpuMs (pids: readonly number[], opts: { skipGone?: boolean } = {}): number {
  const ticks = pids.map(cpuTicks)
  return (opts.skipGone === true ? ticks.filter(Number.isFinite) : ticks).reduce((a, b) => a + b, 0) * MS_PER_TICK
}

/**
 * The box's CPU spent by `pids` together while `work` runs, one figure per
 * `stepMs` as a percentage of one core (200 = both cores of this box busy).
 */
export async function cpuTraceDuring<T> (pids: number[], work: () => Promise<T>, stepMs = 1000): Promise<{ result: T, cpuPercentPerStep: number[] }> {
  const total = (): number => boxCpuMs(pids, { skipGone: true })
  const trace: number[] = []
  let last = total()
  let lastAt = performance.now()
  const timer = setInterval(() => {
    const now = total()
    const at = performance.now()
    trace.push(Math.round((now - last) / (at - lastAt) * 100))
    last = now
    lastAt = at
  }, stepMs)
  try {
    return { result: await work(), cpuPercentPerStep: trace }
  } finally { clearInterval(timer) }
}

export function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]
}

export async function sleep (ms: number): Promise<void> { await new Promise(resolve => setTimeout(resolve, ms)) }
