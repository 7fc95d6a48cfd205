// The builder state blob (`.builder`): versioned CBOR carrying what the next
// rebalance needs (params, device slots, rows, move ages), so any coordinator can
// continue from the last ring with minimal movement.
//
// Layout: cbor map { kind: 'ringleader-builder', v: 3, sum: sha256(body), body: deflate(body) },
// where body is the cbor of the state without its rows, plus rowsSum, the sha256 of the
// rows as little-endian uint16 bytes. The rows are the ring's own rows: every node
// fetches both blobs each epoch, so v3 leaves them in the ring.gz and decoding takes
// them from there (rowsSum proves they are the ones this state was built with). A
// 2^20 × 1000-device state is then ~0.1 MB instead of 4.7 MB (v2: rows inside,
// deflated) or 7.4 MB (v1: uncompressed); v1 and v2 are still read. The checksum
// catches corruption that still parses; decoding then checks every field against the
// others (row lengths from partPower and replicas, ids in range, ages per partition).
import { createHash } from 'node:crypto'
import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { decode, encode } from 'cbor-x'
import { RingBuildError } from './errors.js'
import { deviceKey, describeDevice, validateDeviceFields, validateParams, MAX_DEVICE_ID, MAX_WORKING_BYTES } from './builder-validate.js'
import type { BuildParams, BuilderState, RingDevice } from './types.js'

const KIND = 'ringleader-builder'
/** The encoding's version (v in the blob); the in-memory BuilderState stays version 1. */
const VERSION = 3
const STATE_VERSION = 1
const NO_DEVICE = 0xffff
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

function bad (message: string): never {
  throw new RingBuildError('bad-state', `builder state: ${message}`)
}

/** Row lengths Swift uses: full rows of 2^partPower, the last one floor(2^P × frac). */
export function rowLengths (partPower: number, replicas: number): number[] {
  const parts = 2 ** partPower
  const rows = Math.ceil(replicas)
  const lengths = new Array<number>(rows).fill(parts)
  const frac = replicas - Math.floor(replicas)
  if (frac > 0) lengths[rows - 1] = Math.floor(parts * frac)
  return lengths
}

function rowToBytes (row: Uint16Array): Uint8Array {
  if (HOST_IS_LITTLE_ENDIAN) return new Uint8Array(row.buffer, row.byteOffset, row.byteLength)
  const out = new Uint8Array(row.length * 2)
  const view = new DataView(out.buffer)
  for (let i = 0; i < row.length; i++) view.setUint16(i * 2, row[i], true)
  return out
}

function bytesToRow (bytes: Uint8Array): Uint16Array {
  const row = new Uint16Array(bytes.length / 2)
  if (HOST_IS_LITTLE_ENDIAN) {
    new Uint8Array(row.buffer).set(bytes)
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (let i = 0; i < row.length; i++) row[i] = view.getUint16(i * 2, true)
  }
  return row
}

function digest (bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest())
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function isRecord (v: unknown): v is Record<string, unknown> {
  return v != null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)
}

function checkKeys (record: Record<string, unknown>, required: string[], optional: string[], what: string): void {
  for (const key of required) if (!(key in record)) bad(`${what} lacks '${key}'`)
  for (const key of Object.keys(record)) if (!required.includes(key) && !optional.includes(key)) bad(`${what} has unknown field '${key}'`)
}

function isTimestamp (v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0
}

/** The parameters and device slots: all of a state that does not depend on its rows. */
function validateHead (state: Pick<BuilderState, 'params' | 'devs'>): void {
  try {
    validateParams(state.params)
  } catch (err) {
    bad(`params: ${(err as Error).message}`)
  }
  if (!Array.isArray(state.devs) || state.devs.length > MAX_DEVICE_ID + 1) bad('devs must be an array of at most 65535 slots')
  const keys = new Set<string>()
  state.devs.forEach((dev, id) => {
    if (dev === null) return
    const where = `devs[${id}]`
    try {
      validateDeviceFields(dev, describeDevice(dev, id))
    } catch (err) {
      bad(`${where}: ${(err as Error).message}`)
    }
    if (dev.id !== id) bad(`${where} has id ${String(dev.id)}`)
    if (typeof dev.meta !== 'string') bad(`${where} has no meta string`)
    const key = deviceKey(dev)
    if (keys.has(key)) bad(`${where} duplicates another device's ip, port and device name`)
    keys.add(key)
  })
}

/** Checks a state's fields against each other; throws RingBuildError('bad-state'). */
export function validateBuilderState (state: BuilderState): void {
  if (!isRecord(state)) bad('not an object')
  if (state.version !== STATE_VERSION) bad(`unsupported version ${String(state.version)}`)
  validateHead(state)
  const { partPower, replicas } = state.params
  const parts = 2 ** partPower
  const lengths = rowLengths(partPower, replicas)
  if (!Array.isArray(state.rows) || state.rows.length !== lengths.length) bad(`expected ${lengths.length} rows for ${replicas} replicas, found ${Array.isArray(state.rows) ? state.rows.length : 'none'}`)
  state.rows.forEach((row, r) => {
    if (!(row instanceof Uint16Array)) bad(`row ${r} is not a Uint16Array`)
    if (row.length !== lengths[r]) bad(`row ${r} has ${row.length} entries, expected ${lengths[r]} (partPower ${partPower}, replicas ${replicas})`)
    for (let p = 0; p < row.length; p++) {
      const id = row[p]
      if (id !== NO_DEVICE && (id >= state.devs.length || state.devs[id] == null)) bad(`row ${r} partition ${p} names device ${id}, which does not exist`)
    }
  })
  if (!(state.lastMoveHours instanceof Uint8Array) || state.lastMoveHours.length !== parts) bad(`lastMoveHours must hold one byte per partition (${parts})`)
  if (!isTimestamp(state.rebalancedAt)) bad('rebalancedAt must be a finite timestamp >= 0')
  if (!isTimestamp(state.agedAt)) bad('agedAt must be a finite timestamp >= 0')
}

export function encodeBuilderState (state: BuilderState): Uint8Array {
  validateBuilderState(state)
  const { partPower, replicas, minPartHours, overload, seed } = state.params
  const body = encode({
    params: { partPower, replicas, minPartHours, overload, seed },
    devs: state.devs,
    rowsSum: rowsDigest(state.rows),
    lastMoveHours: state.lastMoveHours,
    rebalancedAt: state.rebalancedAt,
    agedAt: state.agedAt
  })
  return new Uint8Array(encode({ kind: KIND, v: VERSION, sum: digest(body), body: deflateRawSync(body, { level: 6 }) }))
}

function rowsDigest (rows: readonly Uint16Array[]): Uint8Array {
  const h = createHash('sha256')
  for (const row of rows) h.update(rowToBytes(row))
  return new Uint8Array(h.digest())
}

function inflateBody (bytes: Uint8Array): Uint8Array {
  try {
    // Bounded: a small hostile blob must not inflate into gigabytes.
    return inflateRawSync(bytes, { maxOutputLength: MAX_WORKING_BYTES })
  } catch (err) {
    return bad(`body does not inflate (truncated, corrupt or too large): ${(err as Error).message}`)
  }
}

function bytesField (record: Record<string, unknown>, key: string, what: string): Uint8Array {
  const value = record[key]
  if (!(value instanceof Uint8Array)) bad(`${what} must be bytes`)
  return value
}

function decodeCbor (bytes: Uint8Array, what: string): unknown {
  try {
    return decode(bytes)
  } catch (err) {
    return bad(`${what} is not valid CBOR (truncated or corrupt): ${(err as Error).message}`)
  }
}

function decodeDevice (value: unknown, id: number): RingDevice | null {
  if (value === null) return null
  if (!isRecord(value)) bad(`devs[${id}] is not a device`)
  checkKeys(value, ['id', 'region', 'zone', 'ip', 'port', 'device', 'weight', 'meta'], ['replication_ip', 'replication_port'], `devs[${id}]`)
  return value as unknown as RingDevice
}

/** The outer checks (kind, version, checksum) and the body's shape; rows are left to the caller. */
function decodeBody (bytes: Uint8Array): { inner: Record<string, unknown> & { params: Record<string, unknown>, devs: unknown[] }, detached: boolean } {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) bad('empty input')
  if (bytes.length > MAX_WORKING_BYTES) bad(`${bytes.length} bytes is more than any valid state (${MAX_WORKING_BYTES} at most)`)
  const outer = decodeCbor(bytes, 'blob')
  if (!isRecord(outer)) bad('not a ringleader builder state')
  if (outer.kind !== KIND) bad(`not a ringleader builder state (kind ${JSON.stringify(outer.kind)})`)
  if (outer.v !== 1 && outer.v !== 2 && outer.v !== VERSION) bad(`unsupported version ${String(outer.v)} (this build reads 1 to ${VERSION})`)
  checkKeys(outer, ['kind', 'v', 'sum', 'body'], [], 'blob')
  const stored = bytesField(outer, 'body', 'body')
  const body = outer.v === 1 ? stored : inflateBody(stored)
  if (!sameBytes(bytesField(outer, 'sum', 'sum'), digest(body))) bad('checksum mismatch: the blob is corrupt')
  const inner = decodeCbor(body, 'body')
  if (!isRecord(inner)) bad('body is not a map')
  const detached = outer.v === VERSION
  checkKeys(inner, ['params', 'devs', detached ? 'rowsSum' : 'rows', 'lastMoveHours', 'rebalancedAt', 'agedAt'], [], 'body')
  if (!isRecord(inner.params)) bad('params is not a map')
  checkKeys(inner.params, ['partPower', 'replicas', 'minPartHours', 'overload', 'seed'], [], 'params')
  if (!Array.isArray(inner.devs)) bad('devs is not an array')
  return { inner: inner as Record<string, unknown> & { params: Record<string, unknown>, devs: unknown[] }, detached }
}

/**
 * A state's parameters and device slots, checked, without its rows: what a node
 * that installs or plans needs, and all it needs. No ring to inflate (v3 keeps the
 * rows there) and no rows to check.
 */
export function decodeBuilderHead (bytes: Uint8Array): Pick<BuilderState, 'params' | 'devs'> {
  const { inner } = decodeBody(bytes)
  const head = { params: inner.params as unknown as BuildParams, devs: inner.devs.map(decodeDevice) }
  validateHead(head)
  return head
}

/**
 * Decodes a builder state. A v3 state keeps its rows in its ring: pass that ring's
 * rows (decodeRingGz(ring.gz).rows); they must be the ones it was built with.
 */
export function decodeBuilderState (bytes: Uint8Array, ringRows?: readonly Uint16Array[]): BuilderState {
  const { inner, detached } = decodeBody(bytes)
  let rows: Uint16Array[]
  if (detached) {
    if (ringRows === undefined) bad('this state keeps its rows in its ring.gz: decode it together with that ring')
    rows = (ringRows as readonly Uint16Array[]).map(row => Uint16Array.from(row))
    if (!sameBytes(rowsDigest(rows), bytesField(inner, 'rowsSum', 'rowsSum'))) bad('the ring given is not the one this state was built with (rows differ)')
  } else {
    if (!Array.isArray(inner.rows)) bad('rows is not an array')
    rows = inner.rows.map((row: unknown, r: number) => {
      if (!(row instanceof Uint8Array) || row.length % 2 !== 0) bad(`row ${r} is not an even number of bytes`)
      return bytesToRow(row)
    })
  }
  const state: BuilderState = {
    version: STATE_VERSION,
    params: inner.params as unknown as BuildParams,
    devs: inner.devs.map(decodeDevice),
    rows,
    lastMoveHours: new Uint8Array(bytesField(inner, 'lastMoveHours', 'lastMoveHours')),
    rebalancedAt: inner.rebalancedAt as number,
    agedAt: inner.agedAt as number
  }
  validateBuilderState(state)
  return state
}
