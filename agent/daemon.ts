// The composition root. It opens the data dir, takes the lock, binds the status
// socket, loads the identity, starts the libp2p node and then the injected
// components, in that order; stop() undoes it in reverse. A second agent on the
// same data dir fails at the lock (or at the live socket) before it has read or
// written anything else.
import type { AgentConfig } from './config.js'
import type { Logger } from './log.js'
import { openDataDir, type DataDirPaths } from './data-dir.js'
import { cleanTempFiles } from './fs-atomic.js'
import { acquireLock, type Lock } from './lock.js'
import { loadOrCreateIdentity, type Identity } from './identity.js'
import { createNode as defaultCreateNode, type CreateNodeOptions, type RingleaderNode } from './net/create-node.js'
import { CommandRegistry } from './socket/registry.js'
import { StatusSocketServer } from './socket/server.js'
import { registerBuiltinCommands } from './socket/builtin-commands.js'
import { StatusBoard } from './status-board.js'
import { loadedCodeCache } from './code-cache.js'
import { VERSION } from './version.js'

export interface DaemonContext {
  config: AgentConfig
  log: Logger
  paths: DataDirPaths
  identity: Identity
  node: RingleaderNode
  /** Register socket commands here (they appear in `help`). */
  registry: CommandRegistry
  /** Add status fields and move the state to syncing/ready. */
  status: StatusBoard
}

/** A piece of the agent with a lifecycle: membership, map, blob store, … */
export interface Component {
  name: string
  start: (ctx: DaemonContext) => Promise<void> | void
  stop: () => Promise<void> | void
}

export interface DaemonOptions {
  config: AgentConfig
  log: Logger
  components?: Component[]
  /** Replaceable for tests; defaults to agent/net/create-node.ts. */
  createNode?: (opts: CreateNodeOptions) => Promise<RingleaderNode>
  /**
   * Set the state to ready once everything has started (default true). A
   * component that must sync first passes false and calls status.setState itself.
   */
  readyOnStart?: boolean
  now?: () => number
}

export interface RunningDaemon {
  ctx: DaemonContext
  /** Stops components, node and socket, releases the lock. Idempotent. */
  stop: () => Promise<void>
}

export async function startDaemon (opts: DaemonOptions): Promise<RunningDaemon> {
  const { config, log } = opts
  const undo: Array<{ what: string, run: () => Promise<void> | void }> = []
  const unwind = async (): Promise<void> => {
    for (const step of undo.reverse()) {
      try { await step.run() } catch (err) { log.warn('shutdown step failed', { step: step.what, err }) }
    }
    undo.length = 0
  }

  try {
    const paths = await openDataDir(config.dataDir)
    const { lock, replacedStale } = await acquireLock(paths.lock)
    undo.push({ what: 'lock', run: async () => { await (lock as Lock).release() } })
    if (replacedStale !== undefined) log.warn('replaced a stale lock', { path: paths.lock, reason: replacedStale })
    // Only the lock holder may clean up: temp files left by a crashed predecessor.
    const removedTemp = await cleanTempFiles(paths.root)
    if (removedTemp.length > 0) log.warn('removed temp files left by a crash', { files: removedTemp })

    const status = new StatusBoard({ version: VERSION, pid: process.pid, dataDir: paths.root, now: opts.now ?? Date.now })
    // Where an agent's memory goes (RSS grows with its connections; see docs/benchmarks.md).
    status.addField('memory', () => memoryFigures(process.memoryUsage()))
    // Whether V8 took the packaged agent's code cache (absent when run from build/).
    status.addField('codeCache', () => loadedCodeCache())
    const registry = new CommandRegistry()
    registerBuiltinCommands(registry, status, log)
    const socket = new StatusSocketServer({ path: paths.socket, registry, log: log.child({ component: 'socket' }) })
    const bound = await socket.start()
    undo.push({ what: 'socket', run: async () => { await socket.stop() } })
    if (bound.replacedStale) log.warn('replaced a stale socket file', { path: paths.socket })

    const identity = await loadOrCreateIdentity(paths.identity)
    if (identity.created) log.info('created a new node identity', { path: paths.identity })
    if (identity.fixedMode !== undefined) log.warn('identity file was readable by others; set its mode to 0600', { path: paths.identity, was: identity.fixedMode.toString(8) })

    const node = await (opts.createNode ?? defaultCreateNode)({ privateKey: identity.privateKey, listen: config.listen })
    undo.push({ what: 'libp2p', run: async () => { await node.stop() } })
    status.setNode(node.peerId.toString(), () => node.getMultiaddrs().map(a => a.toString()))

    const ctx: DaemonContext = { config, log, paths, identity, node, registry, status }
    for (const component of opts.components ?? []) {
      await component.start(ctx)
      undo.push({ what: component.name, run: () => component.stop() })
    }
    if (opts.readyOnStart ?? true) status.setState('ready')
    log.info('agent started', { nodeId: node.peerId.toString(), listen: status.snapshot().listen, dataDir: paths.root, pid: process.pid, version: VERSION })

    let stopping: Promise<void> | undefined
    return {
      ctx,
      stop: async () => {
        stopping ??= (async () => {
          status.setState('stopping')
          log.info('agent stopping')
          await unwind()
          log.info('agent stopped')
        })()
        await stopping
      }
    }
  } catch (err) {
    await unwind()
    throw err
  }
}

/** process.memoryUsage() in MB, one decimal: what `agent status` shows. */
export function memoryFigures (m: NodeJS.MemoryUsage): { rssMb: number, heapUsedMb: number, heapTotalMb: number, externalMb: number, arrayBuffersMb: number } {
  const mb = (b: number): number => Math.round(b / 104857.6) / 10
  return { rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), heapTotalMb: mb(m.heapTotal), externalMb: mb(m.external), arrayBuffersMb: mb(m.arrayBuffers) }
}
