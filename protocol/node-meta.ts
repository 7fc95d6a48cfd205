// A node's metadata, carried opaquely by membership (≤ 2 KiB) and read by the
// coordinator's planner: where its storage listens, its devices and weights, the map
// epoch it has installed, whether it is ready, and which blobs it holds.
//
// Wire form (cbor array, compact because every member gossips it):
//   [1, region, zone, storageIp, storagePort, [[device, weight], …], epoch, ready, holds?]
// where holds is an array of 32-byte sha2-256 digests (a blob CID is that digest in a
// fixed wrapper, so 34 bytes on the wire instead of a 61-byte CID string).
//
// What fits in 2 KiB (measured in test/map-meta.test.ts): 96 devices (the cap) with
// 8-character names and fractional weights and no holds take ~1.8 KiB; with 4
// devices, 52 held CIDs fit.
import { isIP } from 'node:net'
import { Encoder } from 'cbor-x'
import { blobCidDigest, blobCidFromDigest } from './map/blob-cid.js'

export interface NodeDevice {
  /** Swift device name, a directory under the storage root (e.g. "sdb1"). */
  name: string
  /** Swift weight, ≥ 0; 0 drains the device. */
  weight: number
}

export interface NodeMeta {
  region: number
  zone: number
  /** IPv4 or IPv6 address the Swift storage servers listen on. */
  storageIp: string
  storagePort: number
  devices: NodeDevice[]
  /** Map epoch installed on this node; 0 before the first install. */
  epoch: number
  /** Holds the greatest map it has seen and all its blobs. */
  ready: boolean
  /** Blob CIDs this node can serve. */
  holds?: string[]
}

export type MetaErrorCode = 'META_INVALID' | 'META_TOO_LARGE' | 'META_DECODE'

export class MetaError extends Error {
  readonly code: MetaErrorCode
  readonly field?: string
  constructor (code: MetaErrorCode, message: string, field?: string) {
    super(message)
    this.name = 'MetaError'
    this.code = code
    this.field = field
  }
}

export const MAX_META_BYTES = 2048
export const MAX_DEVICES = 96
export const MAX_HOLDS = 64
export const MAX_REGION = 65535
export const MAX_ZONE = 65535
export const MAX_WEIGHT = 1e9
/** Starts with a letter or digit (so never "." or ".."), no slashes or spaces. */
export const DEVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/

const cbor = new Encoder({ useRecords: false, variableMapSize: true })

function fail (field: string, why: string): never {
  throw new MetaError('META_INVALID', `node meta: ${field} ${why}`, field)
}

function intIn (v: unknown, lo: number, hi: number, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) fail(field, `must be an integer in [${lo}, ${hi}]`)
  return v
}

function checkIp (v: unknown): string {
  if (typeof v !== 'string' || v.includes('%') || isIP(v) === 0) fail('storageIp', 'must be an IPv4 or IPv6 address (no zone id)')
  return v
}

function checkDevices (v: unknown): NodeDevice[] {
  if (!Array.isArray(v)) fail('devices', 'must be an array')
  if (v.length > MAX_DEVICES) fail('devices', `must hold at most ${MAX_DEVICES} devices`)
  const seen = new Set<string>()
  return v.map((d: unknown, i): NodeDevice => {
    const field = `devices[${i}]`
    if (typeof d !== 'object' || d === null) fail(field, 'must be { name, weight }')
    const { name, weight } = d as Record<string, unknown>
    if (typeof name !== 'string' || !DEVICE_NAME.test(name)) fail(`${field}.name`, 'must match [A-Za-z0-9][A-Za-z0-9_.-]{0,31}')
    if (seen.has(name)) fail(`${field}.name`, `repeats "${name}"`)
    seen.add(name)
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0 || weight > MAX_WEIGHT) fail(`${field}.weight`, `must be a finite number in [0, ${MAX_WEIGHT}]`)
    return { name, weight }
  })
}

function checkHolds (v: unknown): string[] {
  if (!Array.isArray(v)) fail('holds', 'must be an array')
  if (v.length > MAX_HOLDS) fail('holds', `must hold at most ${MAX_HOLDS} CIDs`)
  return v.map((c: unknown, i) => {
    if (typeof c !== 'string' || blobCidDigest(c) === undefined) fail(`holds[${i}]`, 'must be a blob CID')
    return c
  })
}

/** Validates a NodeMeta-shaped value and returns a clean copy. Throws MetaError. */
export function validateNodeMeta (v: unknown): NodeMeta {
  if (typeof v !== 'object' || v === null) fail('meta', 'must be an object')
  const m = v as Record<string, unknown>
  for (const k of Object.keys(m)) {
    if (!['region', 'zone', 'storageIp', 'storagePort', 'devices', 'epoch', 'ready', 'holds'].includes(k)) fail(k, 'is not a known field')
  }
  if (typeof m.ready !== 'boolean') fail('ready', 'must be a boolean')
  const meta: NodeMeta = {
    region: intIn(m.region, 0, MAX_REGION, 'region'),
    zone: intIn(m.zone, 0, MAX_ZONE, 'zone'),
    storageIp: checkIp(m.storageIp),
    storagePort: intIn(m.storagePort, 1, 65535, 'storagePort'),
    devices: checkDevices(m.devices),
    epoch: intIn(m.epoch, 0, Number.MAX_SAFE_INTEGER, 'epoch'),
    ready: m.ready
  }
  if (m.holds !== undefined) meta.holds = checkHolds(m.holds)
  return meta
}

/** Validates and encodes; throws MetaError('META_TOO_LARGE') beyond 2 KiB. */
export function encodeNodeMeta (meta: NodeMeta): Uint8Array {
  const m = validateNodeMeta(meta)
  const wire: unknown[] = [1, m.region, m.zone, m.storageIp, m.storagePort, m.devices.map(d => [d.name, d.weight]), m.epoch, m.ready]
  if (m.holds !== undefined) wire.push(m.holds.map(c => blobCidDigest(c) as Uint8Array))
  const bytes = new Uint8Array(cbor.encode(wire))
  if (bytes.length > MAX_META_BYTES) {
    throw new MetaError('META_TOO_LARGE', `node meta: encoded size ${bytes.length} exceeds ${MAX_META_BYTES} bytes (fewer devices, shorter names or fewer holds)`)
  }
  return bytes
}

/** Decodes and validates meta bytes received from a peer. Throws MetaError. */
export function decodeNodeMeta (bytes: Uint8Array): NodeMeta {
  if (!(bytes instanceof Uint8Array)) throw new MetaError('META_DECODE', 'node meta: expected bytes')
  if (bytes.length > MAX_META_BYTES) throw new MetaError('META_TOO_LARGE', `node meta: ${bytes.length} bytes exceeds ${MAX_META_BYTES}`)
  let wire: unknown
  try {
    wire = cbor.decode(bytes)
  } catch (err) {
    throw new MetaError('META_DECODE', `node meta: not valid cbor (${(err as Error).message})`)
  }
  if (!Array.isArray(wire) || (wire.length !== 8 && wire.length !== 9)) throw new MetaError('META_DECODE', 'node meta: expected an array of 8 or 9 fields')
  if (wire[0] !== 1) throw new MetaError('META_DECODE', `node meta: unknown version ${String(wire[0])}`)
  const [, region, zone, storageIp, storagePort, devs, epoch, ready, holds] = wire as unknown[]
  if (!Array.isArray(devs)) fail('devices', 'must be an array')
  const devices = devs.map((d: unknown, i) => {
    if (!Array.isArray(d) || d.length !== 2) fail(`devices[${i}]`, 'must be [name, weight]')
    return { name: d[0] as unknown, weight: d[1] as unknown }
  })
  let holdCids: string[] | undefined
  if (holds !== undefined) {
    if (!Array.isArray(holds) || holds.length > MAX_HOLDS) fail('holds', `must be an array of at most ${MAX_HOLDS} digests`)
    holdCids = holds.map((h: unknown, i) => {
      if (!(h instanceof Uint8Array) || h.length !== 32) fail(`holds[${i}]`, 'must be a 32-byte digest')
      return blobCidFromDigest(h)
    })
  }
  return validateNodeMeta({ region, zone, storageIp, storagePort, devices, epoch, ready, ...(holdCids !== undefined ? { holds: holdCids } : {}) })
}
