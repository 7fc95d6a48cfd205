// What `status` reports. The daemon owns the core fields; components add their
// own (membership checksum, epochs, …) with addField, and move the state through
// starting → syncing → ready.
export type AgentState = 'starting' | 'syncing' | 'ready' | 'stopping'

/**
 * True once a `status` answer shows the node and its components up: the socket
 * answers before both, and components register their commands as they start.
 */
export function hasStarted (status: { nodeId?: unknown, state?: unknown }): boolean {
  return typeof status.nodeId === 'string' && status.state !== 'starting'
}

export interface CoreStatus {
  nodeId: string | null
  listen: string[]
  state: AgentState
  version: string
  pid: number
  dataDir: string
  startedAt: string
  uptimeMs: number
}

export class StatusBoard {
  private state: AgentState = 'starting'
  private nodeId: string | null = null
  private listen: () => string[] = () => []
  private readonly fields = new Map<string, () => unknown>()
  private readonly startedAtMs: number

  constructor (private readonly base: { version: string, pid: number, dataDir: string, now: () => number }) {
    this.startedAtMs = base.now()
  }

  private stateReader: (() => AgentState) | undefined

  setState (state: AgentState): void { this.state = state }
  /** Once set, the state is read from here (e.g. the map service's readiness) until stopping. */
  deriveState (read: () => AgentState): void { this.stateReader = read }
  getState (): AgentState {
    if (this.state === 'stopping' || this.stateReader === undefined) return this.state
    return this.stateReader()
  }

  setNode (nodeId: string, listen: () => string[]): void {
    this.nodeId = nodeId
    this.listen = listen
  }

  /** Adds a field to `status`; `read` is called on every status request. */
  addField (name: string, read: () => unknown): void {
    if (name in this.snapshotCore() || this.fields.has(name)) throw new Error(`status field ${name} already exists`)
    this.fields.set(name, read)
  }

  private snapshotCore (): CoreStatus {
    return {
      nodeId: this.nodeId,
      listen: this.listen(),
      state: this.getState(),
      version: this.base.version,
      pid: this.base.pid,
      dataDir: this.base.dataDir,
      startedAt: new Date(this.startedAtMs).toISOString(),
      uptimeMs: this.base.now() - this.startedAtMs
    }
  }

  snapshot (): CoreStatus & Record<string, unknown> {
    const out: CoreStatus & Record<string, unknown> = { ...this.snapshotCore() }
    for (const [name, read] of this.fields) out[name] = read()
    return out
  }
}
