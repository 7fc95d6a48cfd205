// A cluster of HashiCorp Serf agents on loopback, the yardstick for our membership
// figures. Serf's own log lines ("serf: EventMemberJoin: <name>", "EventMemberFailed")
// are timestamped as they arrive here, so event-handler coalescing (1–3 s in the Serf
// agent) does not distort the comparison.
import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { freePorts } from './free-port.js'
import { track } from './children.js'

export interface SerfNode {
  name: string
  bindPort: number
  rpcPort: number
  proc: ChildProcess
  /** names this node has seen join → time (ms, performance.now()) */
  joined: Map<string, number>
  failed: Map<string, number>
}

export function serfAvailable (): boolean {
  const r = spawnSync('serf', ['version'], { timeout: 5000 })
  return r.status === 0
}

/** How long joinAllThroughSeed waits for every node to log every join by default. */
export const SERF_JOIN_TIMEOUT_MS = 30_000

export class SerfCluster {
  readonly nodes: SerfNode[] = []
  private readonly dir = mkdtempSync(join(tmpdir(), 'serf-bench-'))

  async start (count: number, timeoutMs = 20_000): Promise<void> {
    const ports = await freePorts(count * 2)
    const ready: Array<Promise<void>> = []
    for (let i = 0; i < count; i++) {
      const name = `s${i}`
      const bindPort = ports[2 * i]
      const rpcPort = ports[2 * i + 1]
      const proc = track(spawn('serf', ['agent', `-node=${name}`, `-bind=127.0.0.1:${bindPort}`, `-rpc-addr=127.0.0.1:${rpcPort}`, '-log-level=info'], { stdio: ['ignore', 'pipe', 'pipe'] }))
      const node: SerfNode = { name, bindPort, rpcPort, proc, joined: new Map(), failed: new Map() }
      this.nodes.push(node)
      ready.push(new Promise((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`serf ${name} did not start in ${timeoutMs} ms`)) }, timeoutMs)
        const lines = createInterface({ input: proc.stdout! })
        lines.on('line', (line) => {
          const at = performance.now()
          if (line.includes('Serf agent running')) { clearTimeout(timer); resolve() }
          const join = /EventMemberJoin: (\S+)/.exec(line)
          if (join != null && !node.joined.has(join[1])) node.joined.set(join[1], at)
          const failed = /EventMemberFailed: (\S+)/.exec(line)
          if (failed != null && !node.failed.has(failed[1])) node.failed.set(failed[1], at)
        })
        proc.on('exit', () => { clearTimeout(timer) })
      }))
    }
    await Promise.all(ready)
  }

  /**
   * Every node except the seed runs `serf join <seed>` at once; resolves with ms until
   * all see all, or null when they did not within `timeoutMs` (missingJoins() says
   * how far they got): a run that did not converge is a figure, not a crash that
   * loses the other system's figures of the same run.
   */
  async joinAllThroughSeed (timeoutMs = SERF_JOIN_TIMEOUT_MS): Promise<number | null> {
    const seed = this.nodes[0]
    const t0 = performance.now()
    await Promise.all(this.nodes.slice(1).map(async n => await run('serf', ['join', `-rpc-addr=127.0.0.1:${n.rpcPort}`, `127.0.0.1:${seed.bindPort}`])))
    const names = this.nodes.map(n => n.name)
    try {
      await waitFor(() => this.missingJoins() === 0, timeoutMs, 'all serf nodes to see all joins')
    } catch { return null }
    const last = Math.max(...this.nodes.map(n => Math.max(...names.map(x => n.joined.get(x) ?? 0))))
    return last - t0
  }

  /** (node, member) pairs where the node has not logged the member's join. */
  missingJoins (): number {
    let missing = 0
    for (const n of this.nodes) for (const m of this.nodes) if (!n.joined.has(m.name)) missing++
    return missing
  }

  /** kill -9 one node; resolves with ms until every survivor logged it failed. */
  async killAndDetect (index: number, timeoutMs = 60_000): Promise<{ allMs: number, firstMs: number }> {
    const victim = this.nodes[index]
    const t0 = performance.now()
    victim.proc.kill('SIGKILL')
    const survivors = this.nodes.filter(n => n !== victim)
    await waitFor(() => survivors.every(n => n.failed.has(victim.name)), timeoutMs, `survivors to mark ${victim.name} failed`)
    const times = survivors.map(n => (n.failed.get(victim.name) ?? 0) - t0)
    return { allMs: Math.max(...times), firstMs: Math.min(...times) }
  }

  /** Failures logged about nodes that are still running: false positives. */
  falsePositives (): number {
    const dead = new Set(this.nodes.filter(n => n.proc.exitCode != null || n.proc.signalCode != null).map(n => n.name))
    let count = 0
    for (const n of this.nodes) for (const name of n.failed.keys()) if (!dead.has(name)) count++
    return count
  }

  rssKb (): number[] {
    return this.nodes.filter(n => n.proc.pid != null && n.proc.exitCode == null && n.proc.signalCode == null).map(n => readMemoryKb(n.proc.pid!).rssKb)
  }

  async stop (): Promise<void> {
    await Promise.all(this.nodes.map(async n => {
      if (n.proc.exitCode != null || n.proc.signalCode != null) return
      const exited = new Promise<void>(resolve => n.proc.once('exit', () => { resolve() }))
      n.proc.kill('SIGKILL')
      await exited
    }))
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/**
 * RSS and its anonymous part (heap, stacks: memory the process alone holds). The
 * rest of RSS is file-backed, for node mostly its own binary's code (~45 MB), which
 * every agent on a host shares.
 */
export function readMemoryKb (pid: number): { rssKb: number, anonKb: number } {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8')
    const field = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0)
    return { rssKb: field('VmRSS'), anonKb: field('RssAnon') }
  } catch { return { rssKb: 0, anonKb: 0 } }
}

async function run (cmd: string, args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile(cmd, args, { timeout: 20_000 }, (err) => { if (err != null) reject(err); else resolve() })
  })
}

export async function waitFor (cond: () => boolean, timeoutMs: number, what: string, stepMs = 5): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, stepMs))
  }
}
