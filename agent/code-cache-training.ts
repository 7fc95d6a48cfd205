// Package time: make dist/agent-code.cache by running the packaged agent the way a
// cluster does, on loopback, and keeping what one agent compiled (code-cache.ts).
//
// Three agents with Swift devices, set up as `agent dev` sets up its nodes: the second joins the first through the socket's
// `join` command (as `agent join` does), the third starts with --join the second, so
// the trained agent has both dialled and accepted a connection. Then the first
// bootstraps the cluster map and every node installs the rings; a few seconds more
// cover the joiners' follow-up push-pulls, probes and the sampler's dials. Then the
// second agent writes its cache (SIGUSR2, see bundle-loader.ts). The node flags are
// the launcher's: V8 rejects a cache made under other flags. The single executable,
// which runs without them, is trained by running it (package-sea.ts).
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, open, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { callAgent } from './socket/client.js'
import { hasStarted } from './status-board.js'
import { AGENT_NODE_FLAGS, agentEnv } from './node-flags.js'
import { bootstrapAndInstall, devNodeArgs, waitForAlive } from './dev-cluster.js'
import { CACHE_FILE, CODE_FILE, TRAINING_ENV } from './bundle-loader.js'
import { openCodeCache } from './code-cache.js'

export interface TrainingOptions {
  /** How to run the agent: program and arguments before `start` (default: this node with the launcher's flags and DIR/agent.mjs). */
  command?: string[]
  /** Where the cache goes (default DIR/agent-code.cache). */
  target?: string
  /** The whole run (default 90 s); the package then goes without a cache. */
  timeoutMs?: number
  /** After the rings are installed, before the cache is taken (default 3500 ms: past the 3 s follow-up push-pull). */
  settleMs?: number
}

interface TrainingNode { dataDir: string, socket: string, child: ChildProcess, addr?: string }

const NODES = 3
const TRAINED = 1

function sleep (ms: number): Promise<void> { return new Promise(resolve => setTimeout(resolve, ms)) }

/** The end of a training agent's log, for the error (the logs go with the temp dir). */
function logTail (path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().slice(-400)
  } catch {
    return '(no log)'
  }
}

/** Polls `probe` until it gives a value; fails at the deadline, or at once when `fatal` says why. */
async function until<T> (what: string, deadline: number, probe: () => Promise<T | undefined>, fatal: () => string | undefined = () => undefined): Promise<T> {
  while (Date.now() < deadline) {
    const reason = fatal()
    if (reason !== undefined) throw new Error(`code cache training: ${reason}`)
    try {
      const v = await probe()
      if (v !== undefined) return v
    } catch { /* not yet */ }
    await sleep(50)
  }
  throw new Error(`code cache training: timed out waiting for ${what}`)
}

/** Trains the code cache for the agent code in `dir` (DIR/agent-code.cjs); resolves with its size in bytes. */
export async function trainCodeCache (dir: string, opts: TrainingOptions = {}): Promise<number> {
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000)
  const target = opts.target ?? join(dir, CACHE_FILE)
  const [program, ...prefix] = opts.command ?? [process.execPath, ...AGENT_NODE_FLAGS, join(dir, 'agent.mjs')]
  await rm(target, { force: true }) // never leave another build's cache beside this code
  const base = await mkdtemp(join(tmpdir(), 'rl-train-'))
  const nodes: TrainingNode[] = []
  try {
    for (let i = 0; i < NODES; i++) {
      const dataDir = join(base, String(i))
      const args = [...prefix, 'start', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--log-level', 'info',
        ...devNodeArgs(i), ...(i === 2 ? ['--join', nodes[TRAINED].addr as string] : [])]
      const log = await open(join(base, `${i}.log`), 'a')
      const env = agentEnv()
      if (i === TRAINED) env[TRAINING_ENV] = target
      const child = spawn(program, args, { stdio: ['ignore', log.fd, log.fd], env })
      await log.close()
      const node: TrainingNode = { dataDir, socket: join(dataDir, 'agent.sock'), child }
      nodes.push(node)
      const status = await until(`agent ${i} to start`, deadline, async () => {
        const s = await callAgent(node.socket, 'status', {}, { timeoutMs: 2000 }) as { listen?: string[], nodeId?: string | null, state?: string }
        return hasStarted(s) ? s : undefined
      }, () => child.exitCode !== null || child.signalCode !== null ? `agent ${i} exited (${child.exitCode ?? child.signalCode}): ${logTail(join(base, `${i}.log`))}` : undefined)
      node.addr = status.listen?.[0]
      if (i === TRAINED) await callAgent(node.socket, 'join', { addrs: [nodes[0].addr] }, { timeoutMs: 30_000 })
    }
    for (const [i, n] of nodes.entries()) {
      if (!await waitForAlive(n.socket, NODES, deadline)) throw new Error(`code cache training: timed out waiting for agent ${i} to count ${NODES} alive`)
    }
    await bootstrapAndInstall(nodes.map(n => n.socket), Math.max(1000, Math.min(60_000, deadline - Date.now())))
    await sleep(opts.settleMs ?? 3500)
    nodes[TRAINED].child.kill('SIGUSR2')
    const file = await until('the trained agent to write its cache', deadline, async () => await readFile(target).catch(() => undefined))
    const opened = openCodeCache(await readFile(join(dir, CODE_FILE)), file)
    if ('reason' in opened) throw new Error(`code cache training: the written cache does not open: ${opened.reason}`)
    return file.byteLength
  } catch (err) {
    await rm(target, { force: true })
    throw err
  } finally {
    await Promise.all(nodes.map(async n => {
      if (n.child.exitCode !== null || n.child.signalCode !== null) return
      const exited = new Promise<void>(resolve => n.child.once('exit', () => { resolve() }))
      n.child.kill('SIGKILL')
      await exited
    }))
    await rm(base, { recursive: true, force: true })
  }
}
