// Rebalance planning: from the previous map, the ring definitions and the membership
// view (with each member's NodeMeta) to the device list of every ring, plus whether
// anything changed, so a membership blip that changes nothing makes no new epoch.
// Pure: `now` is an input, and the builder itself is called by the shell.
import type { DeviceSpec } from '../../ring/types.js'
import type { NodeMeta } from '../node-meta.js'
import type { MemberStatus } from './coordinator.js'
import type { ClusterMap } from './map.js'
import { compareIds } from './validate.js'

export interface RingParams {
  partPower: number
  replicas: number
  minPartHours: number
  overload: number
}

/** One ring the cluster keeps (e.g. "account", "container", "object"). Every device of every member goes into every ring. */
export interface RingDefinition extends RingParams {
  name: string
}

export interface PlanMember {
  id: string
  status: MemberStatus
  /** Undefined when the member's meta is missing or failed to decode: its previous devices are carried over. */
  meta: NodeMeta | undefined
  /** Unix ms since the member has been in `status` (dead time counts from here). */
  statusSince: number
}

/** The placement-relevant part of a previously built device (a RingDevice fits). */
export type PreviousDevice = Pick<DeviceSpec, 'region' | 'zone' | 'ip' | 'port' | 'device' | 'weight' | 'meta'>

export interface PlanInput {
  /**
   * The current map and the device lists its rings were built from: each ring's
   * builder state `devs` (holes as null are fine). Absent at bootstrap.
   */
  previous?: { map: ClusterMap, devices: Record<string, ReadonlyArray<PreviousDevice | null>> }
  rings: readonly RingDefinition[]
  members: readonly PlanMember[]
  policy: {
    /** Devices of a dead member stay in the rings this long, so a reboot moves nothing. */
    removeDeadAfterMs: number
    now: number
    /** Operator override (force-leave): publish even without a majority of the previous members alive. */
    force?: boolean
  }
}

export interface RingPlan {
  name: string
  params: RingParams
  /** Sorted by (ip, port, device); `meta` is the owning member's id. */
  devices: DeviceSpec[]
  changed: boolean
  /** Human-readable reasons for `changed`, for logs and `status`. */
  reasons: string[]
}

export interface RebalancePlan {
  rings: Record<string, RingPlan>
  /** Names of rings whose device list or parameters changed (rebuild these only). */
  ringsChanged: string[]
  /** Rings of the previous map that are no longer defined. */
  ringsRemoved: string[]
  /** Sorted ids the new map considers: every member not left and not dead past the timeout. */
  members: string[]
  membersChanged: boolean
  /** Anything differs from the previous map's inputs: a new epoch is warranted. */
  changed: boolean
  gate: { majority: boolean, alive: number, of: number }
  /** changed, and (majority or force). */
  publish: boolean
  /** Two members claiming one (ip, port, device): the lower id keeps it. */
  conflicts: string[]
}

/**
 * True when a strict majority of `previousMembers` is in `aliveIds` (exactly half is
 * not a majority). With no previous members (bootstrap) there is nothing to fork.
 */
export function hasMajority (previousMembers: readonly string[], aliveIds: Iterable<string>): boolean {
  if (previousMembers.length === 0) return true
  const alive = aliveIds instanceof Set ? aliveIds as Set<string> : new Set(aliveIds)
  let seen = 0
  for (const id of previousMembers) if (alive.has(id)) seen++
  return seen * 2 > previousMembers.length
}

function deviceKey (d: { ip: string, port: number, device: string }): string {
  return `${d.ip}|${d.port}|${d.device}`
}

function compareDevices (a: DeviceSpec, b: DeviceSpec): number {
  if (a.ip !== b.ip) return a.ip < b.ip ? -1 : 1
  if (a.port !== b.port) return a.port - b.port
  return a.device < b.device ? -1 : a.device > b.device ? 1 : 0
}

function isRemoved (m: PlanMember, policy: PlanInput['policy']): boolean {
  if (m.status === 'left') return true
  return m.status === 'dead' && policy.now - m.statusSince >= policy.removeDeadAfterMs
}

function sameDevice (a: PreviousDevice, b: DeviceSpec): boolean {
  return a.region === b.region && a.zone === b.zone && a.weight === b.weight && (a.meta ?? '') === (b.meta ?? '')
}

function diffDevices (prev: ReadonlyArray<PreviousDevice | null>, next: DeviceSpec[]): string[] {
  const reasons: string[] = []
  const before = new Map<string, PreviousDevice>()
  for (const d of prev) if (d != null) before.set(deviceKey(d), d)
  const after = new Set<string>()
  for (const d of next) {
    const key = deviceKey(d)
    after.add(key)
    const old = before.get(key)
    if (old === undefined) reasons.push(`add ${key}`)
    else if (!sameDevice(old, d)) reasons.push(old.weight !== d.weight ? `weight ${key} ${old.weight}→${d.weight}` : `update ${key}`)
  }
  for (const key of before.keys()) if (!after.has(key)) reasons.push(`remove ${key}`)
  return reasons
}

/** The whole planning step; see RebalancePlan for what comes back. */
export function planRebalance (input: PlanInput): RebalancePlan {
  const { previous, policy } = input
  // A member of the previous map that this view does not list at all is unknown,
  // not gone: a coordinator that just restarted or joined may not have heard of it
  // yet. It keeps its devices (carried over like a member without meta) until
  // membership says it left or stayed dead past the timeout. It is not alive for
  // the majority gate.
  const listed = new Set(input.members.map(m => m.id))
  const unknown: PlanMember[] = (previous?.map.members ?? []).filter(id => !listed.has(id)).map(id => ({ id, status: 'suspect', meta: undefined, statusSince: policy.now }))
  const kept = [...input.members, ...unknown].filter(m => !isRemoved(m, policy)).sort((a, b) => compareIds(a.id, b.id))

  // Devices by identity; members are visited lowest id first, so the lower id keeps a contested device.
  const devices = new Map<string, DeviceSpec>()
  const conflicts: string[] = []
  const claim = (d: DeviceSpec): void => {
    const key = deviceKey(d)
    const owner = devices.get(key)
    if (owner !== undefined) { conflicts.push(`${key} claimed by ${owner.meta ?? '?'} and ${d.meta ?? '?'}`); return }
    devices.set(key, d)
  }
  for (const m of kept) {
    if (m.meta !== undefined) {
      const { region, zone, storageIp: ip, storagePort: port } = m.meta
      for (const d of m.meta.devices) claim({ region, zone, ip, port, device: d.name, weight: d.weight, meta: m.id })
    } else if (previous !== undefined) {
      // No readable meta: keep whatever this member contributed last time (found by meta = id), once.
      const carried = new Map<string, DeviceSpec>()
      for (const list of Object.values(previous.devices)) {
        for (const d of list) {
          if (d != null && d.meta === m.id) carried.set(deviceKey(d), { region: d.region, zone: d.zone, ip: d.ip, port: d.port, device: d.device, weight: d.weight, meta: m.id })
        }
      }
      for (const d of carried.values()) claim(d)
    }
  }
  const deviceList = [...devices.values()].sort(compareDevices)

  const rings: Record<string, RingPlan> = {}
  const ringsChanged: string[] = []
  for (const def of [...input.rings].sort((a, b) => compareIds(a.name, b.name))) {
    const params: RingParams = { partPower: def.partPower, replicas: def.replicas, minPartHours: def.minPartHours, overload: def.overload }
    const list = deviceList.map(d => ({ ...d }))
    const reasons: string[] = []
    const prevEntry = previous?.map.rings[def.name]
    const prevDevices = previous?.devices[def.name]
    if (prevEntry === undefined || prevDevices === undefined) {
      reasons.push('new ring')
    } else {
      for (const k of ['partPower', 'replicas', 'minPartHours', 'overload'] as const) {
        if (prevEntry[k] !== params[k]) reasons.push(`${k} ${prevEntry[k]}→${params[k]}`)
      }
      reasons.push(...diffDevices(prevDevices, list))
    }
    rings[def.name] = { name: def.name, params, devices: list, changed: reasons.length > 0, reasons }
    if (reasons.length > 0) ringsChanged.push(def.name)
  }

  const defined = new Set(input.rings.map(r => r.name))
  const ringsRemoved = previous === undefined ? [] : Object.keys(previous.map.rings).filter(n => !defined.has(n)).sort()
  const members = kept.map(m => m.id)
  const prevMembers = previous?.map.members ?? []
  const membersChanged = previous === undefined || members.length !== prevMembers.length || members.some((id, i) => id !== prevMembers[i])
  const changed = ringsChanged.length > 0 || ringsRemoved.length > 0 || membersChanged

  const aliveIds = new Set(input.members.filter(m => m.status === 'alive').map(m => m.id))
  const alive = prevMembers.filter(id => aliveIds.has(id)).length
  const majority = hasMajority(prevMembers, aliveIds)
  return {
    rings,
    ringsChanged,
    ringsRemoved,
    members,
    membersChanged,
    changed,
    gate: { majority, alive, of: prevMembers.length },
    publish: changed && (majority || policy.force === true),
    conflicts
  }
}
