// agent dev: a local cluster for newcomers. N agents run as separate processes
// on 127.0.0.1 (OS-chosen ports), each with its own data dir under one temp
// folder, its own zone and two Swift devices; node 0 starts first and the others
// get --join to it, so they form one cluster. Once all have joined, node 0
// bootstraps the cluster map (account, container and object rings), and every
// node installs the rings and runs a hook that logs each epoch. Ctrl-C or SIGTERM
// stops them all.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, mkdir, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createRequire } from 'node:module'
import { join, relative } from 'node:path'
import { callAgent } from './socket/client.js'
import { dataDirPaths } from './data-dir.js'
import { hasStarted } from './status-board.js'
import type { Io } from './cli/io.js'
import { formatTable } from './cli/table.js'
import { AGENT_NODE_FLAGS, agentEnv } from './node-flags.js'

export interface DevClusterOptions {
  nodes: number
  /** The CLI script to run for each node (default: this process's own script or executable). */
  cliPath?: string
  logLevel?: string
  /** Keep the data dirs after stopping (default: removed). */
  keep?: boolean
  io: Io
  /** Resolves when the cluster should stop (default: SIGINT or SIGTERM). */
  until?: Promise<void>
}

interface DevNode { index: number, dataDir: string, child: ChildProcess, exited: Promise<number | null>, nodeId?: string, addr?: string }

const READY_TIMEOUT_MS = 20_000
const DEVICES_PER_NODE = 2
const RINGS_READY_TIMEOUT_MS = 60_000
/** Node `index`'s own zone, storage address and DEVICES_PER_NODE devices, and a short rebalance delay. */
export function devNodeArgs (index: number): string[] {
  return ['--zone', String(index + 1), '--storage-ip', '127.0.0.1', '--storage-port', String(6200 + 10 * index),
    ...Array.from({ length: DEVICES_PER_NODE }, (_, d) => ['--device', `sd${String.fromCharCode(98 + d)}:100`]).flat(),
    '--rebalance-delay', '300']
}

/** Small rings, and min_part_hours 0 so that a change visibly moves partitions at once. */
function devRings (devices: number): string[] {
  const replicas = Math.min(3, devices)
  return [`account:8:${replicas}:0`, `container:8:${replicas}:0`, `object:10:${replicas}:0`]
}
/** The hook each dev node runs: one line per installed epoch in DATA_DIR/hook.log. */
const DEV_HOOK = 'echo "$(date -u +%FT%TZ) epoch $RINGLEADER_EPOCH installed in $RINGLEADER_RING_DIR (changed: $RINGLEADER_CHANGED)" >> hook.log'
const STOP_TIMEOUT_MS = 8_000
const CLUSTER_TIMEOUT_MS = 15_000

async function waitForStatus (node: DevNode, deadline: number): Promise<Record<string, unknown>> {
  const socket = dataDirPaths(node.dataDir).socket
  let lastError: unknown
  while (Date.now() < deadline) {
    if (node.child.exitCode !== null) throw new Error(`node ${node.index} exited with code ${node.child.exitCode}; see ${join(node.dataDir, 'agent.log')}`)
    try {
      const status = await callAgent(socket, 'status', {}, { timeoutMs: 2000 }) as Record<string, unknown>
      // The socket answers before the libp2p node and the components are up (their
      // commands, e.g. bootstrap, come with them); the state leaves `starting` after.
      if (hasStarted(status)) return status
      lastError = new Error('the node has not started yet')
      await new Promise(resolve => setTimeout(resolve, 100))
    } catch (err) {
      lastError = err
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }
  throw new Error(`node ${node.index} did not answer within ${READY_TIMEOUT_MS} ms (${(lastError as Error)?.message ?? ''})`)
}

/**
 * The first socket's agent bootstraps the cluster map from every member's devices
 * (DEVICES_PER_NODE each); resolves with the epoch once every agent has installed it.
 */
export async function bootstrapAndInstall (sockets: string[], timeoutMs: number = RINGS_READY_TIMEOUT_MS): Promise<number> {
  const { epoch } = await callAgent(sockets[0], 'bootstrap', { rings: devRings(sockets.length * DEVICES_PER_NODE) }, { timeoutMs }) as { epoch: number }
  await Promise.all(sockets.map(async socket => {
    await callAgent(socket, 'wait-ready', { epoch, timeoutMs }, { timeoutMs: timeoutMs + 5000 })
  }))
  return epoch
}

/** Polls the agent at `socket` until it counts `n` alive members; false when the deadline passes first. */
export async function waitForAlive (socket: string, n: number, deadline: number): Promise<boolean> {
  while (Date.now() < deadline) {
    try {
      const status = await callAgent(socket, 'status', {}, { timeoutMs: 2000 }) as { members?: { alive?: unknown } }
      if (status.members?.alive === n) return true
    } catch { /* retried until the deadline */ }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return false
}

function signalled (): Promise<void> {
  return new Promise(resolve => {
    const done = (): void => { process.off('SIGINT', done); process.off('SIGTERM', done); resolve() }
    process.on('SIGINT', done)
    process.on('SIGTERM', done)
  })
}

async function stopAll (nodes: DevNode[]): Promise<void> {
  for (const n of nodes) if (n.child.exitCode === null) n.child.kill('SIGTERM')
  await Promise.all(nodes.map(async n => {
    const timer = setTimeout(() => { n.child.kill('SIGKILL') }, STOP_TIMEOUT_MS)
    await n.exited
    clearTimeout(timer)
  }))
}

/** How to run this same agent again: node + script, or the single executable itself. */
function selfInvocation (cliPath: string | undefined): { command: string, prefix: string[], shown: string } {
  // node:sea exists from Node 20.12, so it is looked up at run time. Through require,
  // not import(): the packaged agent's code runs in a vm.Script, where import() is
  // an experimental path (it warns) and, inside the single executable, finds no sea.
  let sea: { isSea: () => boolean } | undefined
  try {
    sea = createRequire(process.execPath)('node:sea') as { isSea: () => boolean }
  } catch {
    sea = undefined
  }
  if (cliPath === undefined && sea?.isSea() === true) return { command: process.execPath, prefix: [], shown: process.execPath }
  const script = cliPath ?? process.argv[1]
  return { command: process.execPath, prefix: [...AGENT_NODE_FLAGS, script], shown: `node ${relative(process.cwd(), script) || script}` }
}

export async function runDevCluster (opts: DevClusterOptions): Promise<number> {
  const { io } = opts
  const self = selfInvocation(opts.cliPath)
  const stopRequested = opts.until ?? signalled()
  const base = await mkdtemp(join(tmpdir(), 'ringleader-dev-'))
  const nodes: DevNode[] = []
  let exitCode = 0
  try {
    for (let i = 0; i < opts.nodes; i++) {
      const dataDir = join(base, `node-${i}`)
      await mkdir(dataDir, { recursive: true, mode: 0o700 })
      const logFile = await open(join(dataDir, 'agent.log'), 'a', 0o600)
      const args = [...self.prefix, 'start', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--log-level', opts.logLevel ?? 'info',
        ...devNodeArgs(i), '--on-change', DEV_HOOK]
      const seed = nodes[0]?.addr
      if (seed !== undefined) args.push('--join', seed)
      const child = spawn(self.command, args, { stdio: ['ignore', logFile.fd, logFile.fd], cwd: dataDir, env: agentEnv() })
      await logFile.close()
      const exited = new Promise<number | null>(resolve => { child.once('exit', code => { resolve(code) }) })
      const node: DevNode = { index: i, dataDir, child, exited }
      nodes.push(node)
      const status = await waitForStatus(node, Date.now() + READY_TIMEOUT_MS)
      node.nodeId = String(status.nodeId)
      const listen = Array.isArray(status.listen) ? status.listen.map(String) : []
      node.addr = listen.find(a => a.includes('/tcp/')) ?? listen[0]
    }

    io.stdout(`Started ${nodes.length} agents under ${base}\n\n`)
    io.stdout(formatTable(['node', 'pid', 'address', 'query with'], nodes.map(n => [
      n.index, n.child.pid, n.addr, `agent status --data-dir ${n.dataDir}`
    ])))
    if (nodes.length > 1) {
      const formed = await waitForAlive(dataDirPaths(nodes[0].dataDir).socket, nodes.length, Date.now() + CLUSTER_TIMEOUT_MS)
      io.stdout(formed
        ? `\nNodes 1..${nodes.length - 1} joined node 0: one cluster of ${nodes.length}.`
        : `\nThe nodes are still joining node 0 (not all ${nodes.length} alive after ${CLUSTER_TIMEOUT_MS / 1000} s).`)
    }
    const epoch = await bootstrapAndInstall(nodes.map(n => dataDirPaths(n.dataDir).socket))
    io.stdout(`\nNode 0 bootstrapped the cluster map: epoch ${epoch}.`)
    const n0 = nodes[0].dataDir
    const last = nodes[nodes.length - 1].dataDir
    io.stdout(`\nEpoch ${epoch} is installed on every node: ${join(n0, 'rings')}/{account,container,object}.ring.gz, and so on.\n`)
    io.stdout(`\nWatch the members and the map:\n  agent members --data-dir ${n0}\n  agent map --data-dir ${n0}\n  agent ring show object --data-dir ${n0}\n`)
    io.stdout(`\nMake a change and watch it reach every node (a new epoch, the hook's line in each hook.log):\n  agent device add sdz:200 --data-dir ${last}\n  agent wait --ready --epoch ${epoch + 1} --data-dir ${n0} && agent map --data-dir ${n0}\n  tail ${join(n0, 'hook.log')}\n`)
    io.stdout(`\n("agent" is: ${self.shown}; logs are in each data dir's agent.log.)\nPress Ctrl-C to stop them all.\n`)

    const died = Promise.race(nodes.map(async n => { const code = await n.exited; return { n, code } }))
    const outcome = await Promise.race([stopRequested.then(() => undefined), died])
    if (outcome !== undefined) {
      io.stderr(`node ${outcome.n.index} exited unexpectedly (code ${outcome.code}); stopping the others. Log: ${join(outcome.n.dataDir, 'agent.log')}\n`)
      exitCode = 1
    }
  } catch (err) {
    io.stderr(`agent dev: ${(err as Error).message}\n`)
    exitCode = 1
  } finally {
    await stopAll(nodes)
    if (opts.keep === true || exitCode !== 0) io.stdout(`Data dirs kept in ${base}\n`)
    else await rm(base, { recursive: true, force: true })
  }
  if (exitCode === 0) io.stdout('All agents stopped.\n')
  return exitCode
}
