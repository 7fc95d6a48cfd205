// A cluster of real agent processes with Swift devices, a ring hook and fast
// rebalancing, for the cluster-map tests. Built on agent-process.ts: every process
// and temp dir is tracked there and removed by cleanupAgents().
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { startAgent, waitFor, type AgentProcess } from './agent-process.js'

export interface MapStatusView {
  state: string
  epoch: number
  newestSeen: number
  mapHash?: string
  coordinator?: string
  membersByEpoch: Record<string, number>
}

export interface AgentStatusView {
  nodeId: string
  state: string
  listen: string[]
  members: Record<string, number>
  map: MapStatusView
  bootstrap?: { state: string, epoch?: number, reason?: string } | null
  ringDir: string
}

export interface ClusterNode extends AgentProcess {
  index: number
  id: string
  addr: string
  ringDir: string
  hookLog: string
}

/** Quiet window before a rebalance: short, so tests move fast, but long enough to batch a join's changes. */
export const REBALANCE_DELAY_MS = 300

/**
 * Starts node `index` with two devices in zone (index % 3) + 1, a hook that appends
 * the epoch to DATA_DIR/hook.log, and --join to `seed` when given.
 */
export async function startMapNode (index: number, opts: { seed?: string, dataDir?: string, args?: string[] } = {}): Promise<ClusterNode> {
  const dataDir = opts.dataDir
  const hookTarget = '"$RINGLEADER_RING_DIR/../hook.log"'
  const args = [
    '--log-level', 'warn',
    '--zone', String((index % 3) + 1), '--storage-ip', '127.0.0.1', '--storage-port', String(6000 + 10 * index),
    '--device', 'sdb:100', '--device', 'sdc:100',
    '--on-change', `echo "$RINGLEADER_EPOCH $RINGLEADER_RINGS" >> ${hookTarget}`,
    '--rebalance-delay', String(REBALANCE_DELAY_MS),
    ...(opts.seed !== undefined ? ['--join', opts.seed] : []),
    ...(opts.args ?? [])
  ]
  const agent = await startAgent({ ...(dataDir !== undefined ? { dataDir } : {}), args })
  const s = await agent.query('status') as AgentStatusView
  return Object.assign(agent, {
    index,
    id: s.nodeId,
    addr: s.listen.find(a => a.includes('/tcp/')) as string,
    ringDir: s.ringDir,
    hookLog: join(agent.dataDir, 'hook.log')
  })
}

export async function statusOf (n: AgentProcess): Promise<AgentStatusView> {
  return await n.query('status') as AgentStatusView
}

/** Epochs the hook saw on this node, in order. */
export function hookEpochs (n: ClusterNode): number[] {
  if (!existsSync(n.hookLog)) return []
  return readFileSync(n.hookLog, 'utf8').split('\n').filter(l => l !== '').map(l => Number(l.split(' ')[0]))
}

export function sha256File (path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

/** Waits until every node is ready with the same map at `epoch` or later; returns that map hash. */
export async function allReadyAt (nodes: ClusterNode[], epoch: number, timeoutMs = 20_000): Promise<{ epoch: number, hash: string }> {
  try {
    return await waitFor(`all ${nodes.length} nodes ready at epoch >= ${epoch} with one map`, async () => {
      const all = await Promise.all(nodes.map(statusOf))
      const ok = all.every(s => s.state === 'ready' && s.map.epoch >= epoch && s.map.mapHash === all[0].map.mapHash)
      return ok ? { epoch: all[0].map.epoch, hash: all[0].map.mapHash as string } : undefined
    }, timeoutMs, 100)
  } catch (err) {
    // What each node thought, and what it logged: the only trace a CI failure leaves.
    for (const n of nodes) {
      const s = await statusOf(n).catch((e: unknown) => String(e))
      console.log(`node ${n.index} ${n.id}: ${JSON.stringify(typeof s === 'string' ? s : { state: s.state, map: s.map, members: s.members })}`)
      console.log(n.output().stderr.split('\n').filter(l => !l.includes('send failed')).slice(-8).join('\n'))
    }
    throw err
  }
}

/** Waits until every node in `on` counts exactly `alive` alive members. */
export async function aliveCount (on: ClusterNode[], alive: number, timeoutMs = 20_000): Promise<void> {
  await waitFor(`${alive} alive on ${on.length} nodes`, async () => {
    const all = await Promise.all(on.map(statusOf))
    return all.every(s => s.members.alive === alive)
  }, timeoutMs, 100)
}

/** Files in a directory whose names start with a dot: temp files of an atomic write. */
export function tempFiles (dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).filter(f => f.startsWith('.'))
}
