// Types of the map-epoch state machine (epoch-machine.ts): what goes in, what comes
// out through ready(), and its typed errors. Kept apart so the shell can import the
// shapes without the machine.
import type { DeviceSpec } from '../../ring/types.js'
import type { NodeMeta } from '../node-meta.js'
import type { MemberStatus } from './coordinator.js'
import type { ClusterMap } from './map.js'
import type { PreviousDevice, RebalancePlan, RingDefinition, RingParams } from './plan.js'

/** One member as the membership layer sees it. `meta` is undefined when missing or undecodable. */
export interface EpochViewMember {
  id: string
  status: MemberStatus
  /** Unix ms since the member has been in `status`. */
  statusSince: number
  meta?: NodeMeta
}

/** Device lists of a map's rings as its builder states hold them (holes as null). */
export type RingDevices = Record<string, ReadonlyArray<PreviousDevice | null>>

export interface BuildRing {
  name: string
  params: RingParams
  devices: DeviceSpec[]
  /** Builder-state CID of the ring in the map this build continues from (absent for a new ring). */
  previousBuilderCid?: string
  /** False: the ring is unchanged and keeps its entry of the base map (no rebuild). */
  rebuild: boolean
}

/** What the shell must rebalance, then answer with onBuildDone(id, …). */
export interface BuildRequest {
  id: number
  /** The epoch the result is published as. */
  epoch: number
  /** The map this build continues from (undefined at bootstrap); its hash becomes `prev`. */
  base?: ClusterMap
  baseHash: string | null
  rings: BuildRing[]
  /** Sorted ids the new map lists as its members. */
  members: string[]
  /** Why a new epoch is made, for logs. */
  reasons: string[]
  /** Unix ms the build should use as `now` (builder ages, createdAt). */
  now: number
  /** Ring-set requests this build carries. */
  ringSetIds: number[]
  plan: RebalancePlan
}

/** The shell's answer to a BuildRequest. */
export type BuildOutcome =
  | { ok: true, map: ClusterMap, devices: RingDevices }
  | { ok: false, error: string }

export type ReadinessState = 'starting' | 'syncing' | 'ready'

export interface Readiness {
  state: ReadinessState
  /** Epoch installed on this node (0 before the first install). */
  epoch: number
  /** Greatest epoch this node has heard of: maps received and members' meta. */
  newestSeen: number
}

export type EpochEvent =
  | { type: 'map-accepted', epoch: number, hash: string, coordinator: string }
  | { type: 'map-ignored', epoch: number, reason: string }
  | { type: 'catch-up', missing: string, forEpoch: number }
  | { type: 'build-started', id: number, epoch: number, reasons: string[] }
  | { type: 'build-stale', id: number, epoch: number }
  | { type: 'build-failed', id: number, error: string }
  /** A bootstrap ended without making epoch 1 (the builder refused, or a map appeared). */
  | { type: 'bootstrap-failed', error: string }
  | { type: 'published', epoch: number, hash: string }
  | { type: 'gate-closed', alive: number, of: number }
  | { type: 'ring-set-done', requestId: number, epoch: number }
  | { type: 'ring-set-failed', requestId: number, error: string }
  | { type: 'installed', epoch: number, hash: string }
  | { type: 'readiness', state: ReadinessState, epoch: number }

/** Everything the shell must act on since the last ready() call. */
export interface EpochReady {
  build?: BuildRequest
  publish?: ClusterMap
  /** Fetch these blobs of `map`, then call onBlobsFetched(hash). */
  fetch?: { map: ClusterMap, hash: string, cids: string[] }
  /** Install this map's rings (all blobs are local), then call onBlobsInstalled. */
  install?: { map: ClusterMap, hash: string }
  /** Fetch the map blob `missing` (a predecessor we lack) and hand it to onMapFetched. */
  catchUp?: { missing: string, from: string }
  readiness: Readiness
  events: EpochEvent[]
}

export interface EpochMachineConfig {
  selfId: string
  /** Membership must be quiet this long before the coordinator rebalances. */
  quietMs: number
  /** …but never longer than this after the first change. */
  maxDelayMs: number
  /** Devices of a dead member stay this long. */
  removeDeadAfterMs: number
  /** Wait before retrying a failed fetch or build. */
  retryMs: number
  /** After a restart: with no newer epoch heard of for this long, the installed map counts as caught up. */
  syncGraceMs: number
}

export type EpochErrorCode =
  | 'BOOTSTRAP_REFUSED'
  | 'NOT_COORDINATOR'
  | 'NO_MAP'
  | 'BAD_RING_DEF'
  | 'BUSY'

export class EpochError extends Error {
  readonly code: EpochErrorCode
  constructor (code: EpochErrorCode, message: string) {
    super(message)
    this.name = 'EpochError'
    this.code = code
  }
}

export type { RingDefinition }
