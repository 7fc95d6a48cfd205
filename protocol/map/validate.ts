// Validation of everything a cluster map carries. Maps arrive from the network, so
// every field is checked for type, range and spelling before anything trusts it.
import { base58btc } from 'multiformats/bases/base58'
import * as Digest from 'multiformats/hashes/digest'
import { isBlobCid } from './blob-cid.js'
import type { ClusterMap, RingEntry } from './map.js'

export type MapErrorCode = 'MAP_INVALID' | 'MAP_TOO_LARGE' | 'MAP_DECODE'

export class MapError extends Error {
  readonly code: MapErrorCode
  readonly field?: string
  constructor (code: MapErrorCode, message: string, field?: string) {
    super(message)
    this.name = 'MapError'
    this.code = code
    this.field = field
  }
}

/** Encoded maps above this are refused (gossipsub's default message limit is 1 MiB). */
export const MAX_MAP_BYTES = 512 * 1024
export const MAX_RINGS = 64
export const MAX_MEMBERS = 8192
export const RING_NAME = /^[a-z0-9_-]{1,32}$/
/** Swift's ring format stores 2^partPower partitions behind a uint32 hash shift. */
export const MAX_PART_POWER = 32
export const MAX_REPLICAS = 64
export const MAX_MIN_PART_HOURS = 65535
export const MAX_OVERLOAD = 100
export const MAX_RING_SIZE = 2 ** 40

const PEER_ID_CHARS = /^[1-9A-HJ-NP-Za-km-z]{40,128}$/
const IDENTITY = 0x00
const SHA2_256 = 0x12

// Base58 decoding costs ~16 µs per id, and every map (up to thousands of ids) is
// re-validated whenever it is hashed; ids that passed once are remembered. Only a
// memo of a pure predicate, bounded, so it cannot change any result.
const goodPeerIds = new Set<string>()
const GOOD_PEER_ID_MEMO = 50_000

/**
 * A libp2p PeerId in its legacy base58btc spelling ("12D3KooW…" for Ed25519, "Qm…"
 * for RSA): the base58 text must decode to an identity or sha2-256 multihash.
 */
export function isPeerIdString (s: unknown): s is string {
  if (typeof s !== 'string' || !PEER_ID_CHARS.test(s)) return false
  if (goodPeerIds.has(s)) return true
  let ok: boolean
  try {
    const mh = Digest.decode(base58btc.baseDecode(s))
    ok = mh.code === IDENTITY || (mh.code === SHA2_256 && mh.digest.length === 32)
  } catch {
    ok = false
  }
  if (ok) {
    if (goodPeerIds.size >= GOOD_PEER_ID_MEMO) goodPeerIds.clear()
    goodPeerIds.add(s)
  }
  return ok
}

function fail (field: string, why: string): never {
  throw new MapError('MAP_INVALID', `cluster map: ${field} ${why}`, field)
}

function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

function checkKeys (obj: Record<string, unknown>, allowed: readonly string[], field: string): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) fail(`${field}.${k}`, 'is not a known field')
}

function intIn (v: unknown, lo: number, hi: number, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) fail(field, `must be an integer in [${lo}, ${hi}]`)
  return v
}

function numIn (v: unknown, lo: number, hi: number, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) fail(field, `must be a finite number in [${lo}, ${hi}]`)
  return v
}

function blobCidField (v: unknown, field: string): string {
  if (!isBlobCid(v)) fail(field, 'must be a CIDv1 (raw, sha2-256, base32)')
  return v
}

const RING_KEYS = ['cid', 'builderCid', 'partPower', 'replicas', 'minPartHours', 'overload', 'size'] as const
const MAP_KEYS = ['version', 'epoch', 'coordinator', 'prev', 'rings', 'members', 'createdAt'] as const

export function validateRingEntry (v: unknown, field: string): RingEntry {
  if (!isRecord(v)) fail(field, 'must be an object')
  checkKeys(v, RING_KEYS, field)
  const entry: RingEntry = {
    cid: blobCidField(v.cid, `${field}.cid`),
    builderCid: blobCidField(v.builderCid, `${field}.builderCid`),
    partPower: intIn(v.partPower, 0, MAX_PART_POWER, `${field}.partPower`),
    replicas: numIn(v.replicas, 1, MAX_REPLICAS, `${field}.replicas`),
    minPartHours: intIn(v.minPartHours, 0, MAX_MIN_PART_HOURS, `${field}.minPartHours`),
    overload: numIn(v.overload, 0, MAX_OVERLOAD, `${field}.overload`)
  }
  if (v.size !== undefined) entry.size = intIn(v.size, 0, MAX_RING_SIZE, `${field}.size`)
  return entry
}

/**
 * Checks a map-shaped value field by field and returns a fresh, normalised copy
 * (members sorted). Throws MapError naming the first bad field.
 */
export function validateMap (v: unknown): ClusterMap {
  if (!isRecord(v)) fail('map', 'must be an object')
  checkKeys(v, MAP_KEYS, 'map')
  if (v.version !== 1) fail('version', 'must be 1')
  const epoch = intIn(v.epoch, 1, Number.MAX_SAFE_INTEGER, 'epoch')
  if (!isPeerIdString(v.coordinator)) fail('coordinator', 'must be a PeerId string')
  const coordinator = v.coordinator
  let prev: string | null
  if (epoch === 1) {
    if (v.prev !== null) fail('prev', 'must be null at epoch 1')
    prev = null
  } else {
    prev = blobCidField(v.prev, 'prev')
  }
  if (!isRecord(v.rings)) fail('rings', 'must be an object')
  const names = Object.keys(v.rings)
  if (names.length > MAX_RINGS) fail('rings', `must hold at most ${MAX_RINGS} rings`)
  const rings: Record<string, RingEntry> = {}
  for (const name of names.sort()) {
    if (!RING_NAME.test(name)) fail(`rings.${name}`, 'name must match [a-z0-9_-]{1,32}')
    rings[name] = validateRingEntry(v.rings[name], `rings.${name}`)
  }
  if (!Array.isArray(v.members)) fail('members', 'must be an array')
  if (v.members.length === 0 || v.members.length > MAX_MEMBERS) fail('members', `must hold 1 to ${MAX_MEMBERS} ids`)
  const members: string[] = []
  for (const [i, id] of v.members.entries()) {
    if (!isPeerIdString(id)) fail(`members[${i}]`, 'must be a PeerId string')
    members.push(id)
  }
  members.sort(compareIds)
  for (let i = 1; i < members.length; i++) if (members[i] === members[i - 1]) fail('members', `lists ${members[i]} twice`)
  if (!members.includes(coordinator)) fail('coordinator', 'must be one of members')
  const map: ClusterMap = { version: 1, epoch, coordinator, prev, rings, members }
  if (v.createdAt !== undefined) map.createdAt = intIn(v.createdAt, 0, Number.MAX_SAFE_INTEGER, 'createdAt')
  return map
}

/** The one id order used everywhere: plain string order of PeerId strings (lowest wins). */
export function compareIds (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
