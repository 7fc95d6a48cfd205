// The map component: runs the MapService (cluster-map epochs, coordinator, blob
// swarm, ring install, hook) inside the daemon, on top of the membership
// component. It opens the blob store, derives the agent's state from map readiness,
// performs `--bootstrap`, and registers the map socket commands.
import { join } from 'node:path'
import type { RingDefinition } from '../protocol/map/plan.js'
import { EpochError } from '../protocol/map/epoch-types.js'
import { BlobStore } from './blob-store.js'
import { cleanRingDir } from './installer.js'
import { tokenBucket } from './net/rate-limit.js'
import type { Component, DaemonContext } from './daemon.js'
import type { Logger } from './log.js'
import { registerMapCommands } from './map-commands.js'
import { MapService, MapServiceError } from './map-service.js'
import type { MembershipService } from './membership/service.js'

/** What the bootstrap at start did: operators see it in `status`. */
export interface BootstrapReport {
  state: 'waiting' | 'running' | 'done' | 'skipped' | 'refused' | 'failed'
  epoch?: number
  reason?: string
}

/** With --join and --bootstrap: how long to wait to hear from the cluster before deciding. */
const BOOTSTRAP_JOIN_WAIT_MS = 10_000
const BOOTSTRAP_SETTLE_MS = 500
/** The builder's refusal when replicas outnumber devices with weight. */
const TOO_FEW_DEVICES = /replicas need \d+ devices/

export class MapComponent implements Component {
  readonly name = 'map'
  private svc: MapService | undefined
  private log: Logger | undefined
  private unsubscribeForce: (() => void) | undefined
  private readonly stopController = new AbortController()
  bootstrapReport: BootstrapReport | undefined

  constructor (private readonly membership: MembershipService) {}

  get service (): MapService {
    if (this.svc === undefined) throw new Error('the map service has not started')
    return this.svc
  }

  async start (ctx: DaemonContext): Promise<void> {
    const { config } = ctx
    this.log = ctx.log.child({ component: 'map' })
    const store = await BlobStore.open(ctx.paths.root, { keepEpochs: config.keepEpochs })
    const opened = store.openReport
    if (opened.removedTemp.length > 0 || opened.removedCorrupt.length > 0) {
      this.log.warn('blob store repaired at open', { removedTemp: opened.removedTemp.length, removedCorrupt: opened.removedCorrupt })
    }
    const ringDir = config.ringDir ?? join(ctx.paths.root, 'rings')
    // Temp files of an install that a crash cut short: only the lock holder may remove them.
    const removedRingTemps = await cleanRingDir(ringDir)
    if (removedRingTemps.length > 0) this.log.warn('removed ring temp files left by a crash', { files: removedRingTemps })
    this.svc = await MapService.start({
      node: ctx.node,
      membership: this.membership,
      store,
      dataDir: ctx.paths.root,
      ringDir,
      ...(config.onChange !== undefined ? { hook: { cmd: config.onChange, timeoutMs: config.hookTimeoutS * 1000 } } : {}),
      log: this.log,
      quietMs: config.rebalanceDelayMs,
      removeDeadAfterMs: config.removeDeadAfterS * 1000,
      fetchFrom: config.fetchFrom,
      serve: {
        maxUploadPeers: config.uploadSlots,
        ...(config.uploadLimitMbit !== undefined ? { uploadLimiter: tokenBucket({ bytesPerSecond: config.uploadLimitMbit * 125_000 }) } : {})
      }
    })
    const svc = this.svc
    this.unsubscribeForce = this.membership.onForceLeave(() => { svc.force() })
    ctx.status.deriveState(() => svc.readiness().state)
    ctx.status.addField('ringDir', () => ringDir)
    ctx.status.addField('map', () => svc.status())
    ctx.status.addField('bootstrap', () => this.bootstrapReport)
    registerMapCommands(ctx.registry, { service: svc, ringDir })
    if (config.bootstrap) {
      this.bootstrapReport = { state: 'waiting' }
      void this.bootstrapAtStart(config.rings, config.join.length > 0)
    }
  }

  async stop (): Promise<void> {
    this.stopController.abort()
    this.unsubscribeForce?.()
    await this.svc?.stop()
  }

  /**
   * `--bootstrap`: with seeds, first hear from the cluster (so a populated one is
   * seen and refused); a node that already installed a map is initialised already.
   */
  private async bootstrapAtStart (rings: readonly RingDefinition[], hasSeeds: boolean): Promise<void> {
    const svc = this.service
    const signal = this.stopController.signal
    if (svc.status().epoch > 0) {
      this.bootstrapReport = { state: 'skipped', epoch: svc.status().epoch, reason: 'this node already holds a cluster map' }
      this.log?.info('--bootstrap ignored: this node already holds a cluster map', { epoch: svc.status().epoch })
      return
    }
    if (hasSeeds) {
      const deadline = Date.now() + BOOTSTRAP_JOIN_WAIT_MS
      while (!signal.aborted && Date.now() < deadline && !this.membership.view().some(m => m.id !== this.membership.selfId && m.status === 'alive')) {
        await sleep(100)
      }
      // The seeds' meta (their epochs) arrives with the same push-pull; let a pull of their map land too.
      await sleep(BOOTSTRAP_SETTLE_MS)
    }
    while (!signal.aborted) {
      this.bootstrapReport = { state: 'running' }
      try {
        const { epoch } = await svc.bootstrap(rings)
        this.bootstrapReport = { state: 'done', epoch }
        this.log?.info('bootstrapped the cluster', { epoch, rings: rings.map(r => r.name) })
        return
      } catch (err) {
        if (signal.aborted) return
        const reason = (err as Error).message
        if (err instanceof MapServiceError && err.code === 'BOOTSTRAP_FAILED' && TOO_FEW_DEVICES.test(reason)) {
          // The first node of a cluster usually starts before the others join: try again as members arrive.
          this.bootstrapReport = { state: 'waiting', reason }
          this.log?.warn('bootstrap waits for more devices to join', { reason })
          await this.nextMembershipChange(signal)
          continue
        }
        const refused = err instanceof EpochError && err.code === 'BOOTSTRAP_REFUSED'
        this.bootstrapReport = { state: refused ? 'refused' : 'failed', reason }
        if (refused) this.log?.error('--bootstrap refused: this node sees an existing cluster; nothing was changed', { reason })
        else this.log?.error('bootstrap failed', { reason })
        return
      }
    }
  }

  /** Resolves once the number of weighted devices in view changes (or on stop). */
  private async nextMembershipChange (signal: AbortSignal): Promise<void> {
    const before = this.devicesInView()
    await new Promise<void>(resolve => {
      const done = (): void => { off(); signal.removeEventListener('abort', done); resolve() }
      const off = this.membership.onChange(() => { if (this.devicesInView() !== before) done() })
      signal.addEventListener('abort', done, { once: true })
    })
  }

  private devicesInView (): number {
    return this.membership.view().filter(m => m.status === 'alive').reduce((n, m) => n + (m.meta?.devices.filter(d => d.weight > 0).length ?? 0), 0)
  }
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => { setTimeout(resolve, ms).unref() })
}
