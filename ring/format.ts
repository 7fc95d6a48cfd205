// Swift's ring file, format v1 (`*.ring.gz`), which every Swift since 1.7 reads.
// Layout facts: /work/shared/notes/swift-ring.md. Decisions taken here:
// - Writing is deterministic: one gzip member, MTIME 1300507380 (Swift's constant), deflate
//   level 9, XFL 2, OS 255 as Python's gzip module writes; no FNAME unless asked for
//   (Swift's `RingData.save` records the file name minus ".gz", `gzipName` reproduces it).
// - The JSON header is written exactly as Swift's `json.dumps(sort_keys=True)` writes it,
//   weights as Python floats ("100.0"), so the decompressed payload is byte-identical to
//   Swift's for the same ring. (The compressed bytes also depend on the zlib build.)
// - Reading is strict: anything but exactly one well-formed member holding exactly the
//   rows the header announces is a RingFormatError. A header without `byteorder` is read
//   as little-endian: Swift assumes its host's order, which is little on every platform
//   Swift runs on in practice.
// - Caps against decompression bombs: payload ≤ 1 GiB (DEFAULT_MAX_PAYLOAD_BYTES; part
//   power 24 with 3 replicas is 96 MiB), JSON header ≤ 64 MiB.
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib'
import type { RingData, RingDevice } from './types.js'
import { PyFloat, pyJsonDumps, type PyJson } from './python-json.js'

export type RingFormatErrorCode =
  | 'not-gzip' | 'truncated' | 'corrupt' | 'multi-member' | 'trailing-bytes' | 'too-large'
  | 'bad-magic' | 'unsupported-version' | 'bad-header' | 'bad-rows' | 'invalid-ring'

export class RingFormatError extends Error {
  override readonly name = 'RingFormatError'
  constructor (readonly code: RingFormatErrorCode, message: string) {
    super(message)
  }
}

export type ByteOrder = 'little' | 'big'

export interface EncodeRingOptions {
  /** Byte order of the rows; default 'little' (what Swift writes on x86 and arm64). */
  byteorder?: ByteOrder
  /** Swift's builder `version` counter, written to the header when given. */
  version?: number
  /** gzip FNAME, e.g. 'object.ring' to reproduce Swift's `save('object.ring.gz')` header. */
  gzipName?: string
}

/** What a ring file holds beyond RingData. */
export interface DecodedRing extends RingData {
  byteorder: ByteOrder
  /** True when the header had no `byteorder` key and little-endian was assumed. */
  byteorderAssumed: boolean
  version?: number
  nextPartPower?: number
}

export interface DecodeRingOptions {
  /** Largest decompressed payload accepted, bytes. */
  maxPayloadBytes?: number
}

export const SWIFT_GZIP_MTIME = 1300507380
export const DEFAULT_MAX_PAYLOAD_BYTES = 1 << 30
export const MAX_HEADER_BYTES = 64 << 20
export const NO_DEVICE = 0xffff
const MAGIC = 'R1NG'
const FORMAT_VERSION = 1

/** Typed arrays use the host's byte order. */
const HOST_ORDER: ByteOrder = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1 ? 'little' : 'big'

const GZIP_FLAGS = { FHCRC: 2, FEXTRA: 4, FNAME: 8, FCOMMENT: 16 } as const

function fail (code: RingFormatErrorCode, message: string): never {
  throw new RingFormatError(code, message)
}

function isUint (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max
}

/** Throws RingFormatError('invalid-ring') unless `ring` is something Swift could load. */
export function validateRingData (ring: RingData): void {
  const bad = (msg: string): never => fail('invalid-ring', msg)
  if (!isUint(ring.partPower, 32)) bad(`partPower must be an integer 0..32, got ${String(ring.partPower)}`)
  const parts = 2 ** ring.partPower
  ring.devs.forEach((dev, i) => {
    if (dev == null) return
    if (dev.id !== i) bad(`devs[${i}] has id ${dev.id}; a device's id must equal its index`)
    for (const key of ['region', 'zone'] as const) if (!isUint(dev[key])) bad(`devs[${i}].${key} must be a non-negative integer`)
    if (!isUint(dev.port, 65535)) bad(`devs[${i}].port must be an integer 0..65535`)
    if (typeof dev.ip !== 'string' || typeof dev.device !== 'string' || typeof dev.meta !== 'string') bad(`devs[${i}] ip, device and meta must be strings`)
    if (!Number.isFinite(dev.weight) || dev.weight < 0) bad(`devs[${i}].weight must be a finite number ≥ 0`)
    if (dev.replication_ip !== undefined && typeof dev.replication_ip !== 'string') bad(`devs[${i}].replication_ip must be a string`)
    if (dev.replication_port !== undefined && !isUint(dev.replication_port, 65535)) bad(`devs[${i}].replication_port must be an integer 0..65535`)
  })
  ring.rows.forEach((row, r) => {
    const last = r === ring.rows.length - 1
    if (!(row instanceof Uint16Array)) bad(`row ${r} is not a Uint16Array`)
    if (last ? row.length > parts : row.length !== parts) {
      bad(`row ${r} has ${row.length} entries; ${last ? 'the last row may have at most' : 'every row but the last must have'} ${parts}`)
    }
    checkRowDevices(row, r, ring.devs, 'invalid-ring')
  })
}

function checkRowDevices (row: Uint16Array, r: number, devs: Array<RingDevice | null>, code: RingFormatErrorCode): void {
  for (let p = 0; p < row.length; p++) {
    const id = row[p]
    if (id >= devs.length || devs[id] == null) {
      fail(code, `row ${r} partition ${p} names device ${id}, which is not in the device list`)
    }
  }
}

function deviceJson (dev: RingDevice): PyJson {
  return {
    id: dev.id,
    region: dev.region,
    zone: dev.zone,
    ip: dev.ip,
    port: dev.port,
    device: dev.device,
    weight: new PyFloat(dev.weight),
    meta: dev.meta,
    replication_ip: dev.replication_ip,
    replication_port: dev.replication_port
  }
}

/** The uncompressed v1 payload: magic, version, JSON header, rows. */
export function encodeRingPayload (ring: RingData, opts: EncodeRingOptions = {}): Uint8Array {
  validateRingData(ring)
  const byteorder = opts.byteorder ?? 'little'
  if (byteorder !== 'little' && byteorder !== 'big') fail('invalid-ring', `byteorder must be 'little' or 'big'`)
  if (opts.version !== undefined && !isUint(opts.version)) fail('invalid-ring', 'version must be a non-negative integer')
  const header = Buffer.from(pyJsonDumps({
    byteorder,
    devs: ring.devs.map(d => d == null ? null : deviceJson(d)),
    part_shift: 32 - ring.partPower,
    replica_count: ring.rows.length,
    version: opts.version
  }), 'ascii')
  const rowBytes = ring.rows.reduce((n, row) => n + row.length * 2, 0)
  const out = Buffer.alloc(10 + header.length + rowBytes)
  out.write(MAGIC, 0, 'ascii')
  out.writeUInt16BE(FORMAT_VERSION, 4)
  out.writeUInt32BE(header.length, 6)
  header.copy(out, 10)
  let at = 10 + header.length
  for (const row of ring.rows) {
    out.set(new Uint8Array(row.buffer, row.byteOffset, row.byteLength), at)
    if (byteorder !== HOST_ORDER) out.subarray(at, at + row.byteLength).swap16()
    at += row.byteLength
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.length)
}

/** A deterministic single-member gzip of the ring payload (see the file comment). */
export function encodeRingGz (ring: RingData, opts: EncodeRingOptions = {}): Uint8Array {
  const payload = encodeRingPayload(ring, opts)
  let name = Buffer.alloc(0)
  if (opts.gzipName !== undefined) {
    if (!/^[\x20-\x7e]+$/.test(opts.gzipName)) fail('invalid-ring', 'gzipName must be non-empty printable ASCII')
    name = Buffer.concat([Buffer.from(opts.gzipName, 'latin1'), Buffer.from([0])])
  }
  const head = Buffer.alloc(10)
  head[0] = 0x1f; head[1] = 0x8b; head[2] = 8
  head[3] = name.length > 0 ? GZIP_FLAGS.FNAME : 0
  head.writeUInt32LE(SWIFT_GZIP_MTIME, 4)
  head[8] = 2 // XFL: maximum compression
  head[9] = 255 // OS: unknown, as Python's gzip writes
  const body = deflateRawSync(payload, { level: 9 })
  const tail = Buffer.alloc(8)
  tail.writeUInt32LE(crc32(payload), 0)
  tail.writeUInt32LE(payload.length % 2 ** 32, 4)
  const out = Buffer.concat([head, name, body, tail])
  return new Uint8Array(out.buffer, out.byteOffset, out.length)
}

/** Length of the gzip member header, validating it (RFC 1952 §2.3). */
function gzipHeaderLength (buf: Buffer): number {
  if (buf.length < 2 || buf[0] !== 0x1f || buf[1] !== 0x8b) fail('not-gzip', 'not a gzip file (no 1f 8b magic)')
  if (buf.length < 10) fail('truncated', `gzip header truncated: ${buf.length} of 10 bytes`)
  if (buf[2] !== 8) fail('corrupt', `gzip compression method ${buf[2]} is not deflate (8)`)
  const flags = buf[3]
  if ((flags & 0xe0) !== 0) fail('corrupt', `gzip header has reserved flag bits set (0x${flags.toString(16)})`)
  let at = 10
  if ((flags & GZIP_FLAGS.FEXTRA) !== 0) {
    if (buf.length < at + 2) fail('truncated', 'gzip header truncated in its extra field')
    at += 2 + buf.readUInt16LE(at)
  }
  for (const flag of [GZIP_FLAGS.FNAME, GZIP_FLAGS.FCOMMENT]) {
    if ((flags & flag) === 0) continue
    const end = buf.indexOf(0, at)
    if (end < 0) fail('truncated', `gzip header truncated in its ${flag === GZIP_FLAGS.FNAME ? 'file name' : 'comment'}`)
    at = end + 1
  }
  if ((flags & GZIP_FLAGS.FHCRC) !== 0) at += 2
  if (at > buf.length) fail('truncated', 'gzip header truncated')
  return at
}

/** Decompresses exactly one gzip member and checks its CRC32 and length. */
export function gunzipSingleMember (bytes: Uint8Array, maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES): Buffer {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const start = gzipHeaderLength(buf)
  let payload: Buffer
  let consumed: number
  try {
    const { buffer, engine } = inflateRawSync(buf.subarray(start), { info: true, maxOutputLength: maxPayloadBytes }) as unknown as
      { buffer: Buffer, engine: { bytesWritten: number } }
    payload = buffer
    consumed = engine.bytesWritten
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) fail('too-large', `decompressed ring is larger than the ${maxPayloadBytes}-byte cap`)
    if (e.code === 'Z_BUF_ERROR' || /unexpected end/i.test(e.message)) fail('truncated', 'gzip data truncated: the deflate stream ends early')
    fail('corrupt', `gzip data corrupt: ${e.message}`)
  }
  if (payload.length > maxPayloadBytes) fail('too-large', `decompressed ring is larger than the ${maxPayloadBytes}-byte cap`)
  const trailerAt = start + consumed
  if (buf.length < trailerAt + 8) fail('truncated', `gzip trailer truncated: ${buf.length - trailerAt} of 8 bytes`)
  const crc = buf.readUInt32LE(trailerAt)
  const size = buf.readUInt32LE(trailerAt + 4)
  if (crc !== crc32(payload)) fail('corrupt', `gzip CRC32 mismatch: trailer says ${crc.toString(16)}, data hashes to ${crc32(payload).toString(16)}`)
  if (size !== payload.length % 2 ** 32) fail('corrupt', `gzip length mismatch: trailer says ${size}, data is ${payload.length} bytes`)
  const rest = buf.length - trailerAt - 8
  if (rest > 0) {
    if (buf[trailerAt + 8] === 0x1f && buf[trailerAt + 9] === 0x8b) fail('multi-member', 'gzip file has more than one member; Swift reads only one')
    fail('trailing-bytes', `${rest} unexpected bytes after the gzip member`)
  }
  return payload
}

function parseHeaderJson (bytes: Buffer): Record<string, unknown> {
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return fail('bad-header', 'ring JSON header is not valid UTF-8')
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    return fail('bad-header', `ring JSON header does not parse: ${(err as Error).message}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('bad-header', 'ring JSON header is not an object')
  return value as Record<string, unknown>
}

function parseDevice (raw: unknown, i: number): RingDevice | null {
  if (raw === null) return null
  const bad = (msg: string): never => fail('bad-header', `devs[${i}]: ${msg}`)
  if (typeof raw !== 'object' || Array.isArray(raw)) bad('must be an object or null')
  const d = raw as Record<string, unknown>
  if (d.id !== i) bad(`id is ${JSON.stringify(d.id)} but a device's id must equal its index ${i}`)
  // Pre-region rings lack `region`; Swift defaults it to 1 when loading.
  const region = d.region ?? 1
  for (const [key, v] of [['region', region], ['zone', d.zone]] as const) if (!isUint(v)) bad(`${key} must be a non-negative integer`)
  if (!isUint(d.port, 65535)) bad('port must be an integer 0..65535')
  for (const key of ['ip', 'device'] as const) if (typeof d[key] !== 'string') bad(`${key} must be a string`)
  if (typeof d.weight !== 'number' || !Number.isFinite(d.weight) || d.weight < 0) bad('weight must be a number ≥ 0')
  if (d.meta !== undefined && typeof d.meta !== 'string') bad('meta must be a string')
  if (d.replication_ip !== undefined && typeof d.replication_ip !== 'string') bad('replication_ip must be a string')
  if (d.replication_port !== undefined && !isUint(d.replication_port, 65535)) bad('replication_port must be an integer 0..65535')
  // Other keys a builder may carry through (none in stock Swift) are not part of RingDevice and are dropped.
  const dev: RingDevice = {
    id: i,
    region: region as number,
    zone: d.zone as number,
    ip: d.ip as string,
    port: d.port as number,
    device: d.device as string,
    weight: d.weight as number,
    meta: (d.meta as string | undefined) ?? ''
  }
  if (d.replication_ip !== undefined) dev.replication_ip = d.replication_ip as string
  if (d.replication_port !== undefined) dev.replication_port = d.replication_port as number
  return dev
}

/** Parses an uncompressed v1 payload. */
export function decodeRingPayload (payload: Uint8Array): DecodedRing {
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
  if (buf.length < 4 || buf.toString('latin1', 0, 4) !== MAGIC) {
    // Pre-1.7 Swift pickled the ring; a pickle starts with 0x80 and a protocol byte.
    const hint = buf[0] === 0x80 ? ' (this looks like a pre-1.7 pickled ring, which is not supported)' : ''
    fail('bad-magic', `not a Swift ring: payload does not start with "R1NG"${hint}`)
  }
  if (buf.length < 10) fail('truncated', `ring payload truncated: ${buf.length} bytes, the fixed header needs 10`)
  const version = buf.readUInt16BE(4)
  if (version !== FORMAT_VERSION) fail('unsupported-version', `ring format version ${version} is not supported (only v1)`)
  const jsonLength = buf.readUInt32BE(6)
  if (jsonLength > MAX_HEADER_BYTES) fail('too-large', `ring JSON header claims ${jsonLength} bytes, over the ${MAX_HEADER_BYTES}-byte cap`)
  if (10 + jsonLength > buf.length) fail('truncated', `ring JSON header claims ${jsonLength} bytes but only ${buf.length - 10} follow`)
  const header = parseHeaderJson(buf.subarray(10, 10 + jsonLength))

  const partShift = header.part_shift
  if (!isUint(partShift, 32)) fail('bad-header', `part_shift must be an integer 0..32, got ${JSON.stringify(partShift)}`)
  const rowCount = header.replica_count
  if (!isUint(rowCount)) fail('bad-header', `replica_count must be a non-negative integer, got ${JSON.stringify(rowCount)}`)
  let byteorder: ByteOrder = 'little'
  const byteorderAssumed = header.byteorder === undefined
  if (!byteorderAssumed) {
    if (header.byteorder !== 'little' && header.byteorder !== 'big') fail('bad-header', `byteorder must be "little" or "big", got ${JSON.stringify(header.byteorder)}`)
    byteorder = header.byteorder
  }
  if (header.version !== undefined && header.version !== null && !isUint(header.version)) fail('bad-header', 'version must be a non-negative integer')
  if (header.next_part_power !== undefined && header.next_part_power !== null && !isUint(header.next_part_power, 32)) fail('bad-header', 'next_part_power must be an integer 0..32')
  if (!Array.isArray(header.devs)) fail('bad-header', 'devs must be an array')
  if (header.devs.length > NO_DEVICE) fail('bad-header', `${header.devs.length} devices; format v1 holds at most ${NO_DEVICE}`)
  const devs = header.devs.map(parseDevice)

  const partPower = 32 - partShift
  const parts = 2 ** partPower
  const rowBytes = buf.length - 10 - jsonLength
  const fullBytes = parts * 2
  if (rowCount === 0) {
    if (rowBytes !== 0) fail('trailing-bytes', `ring header says 0 rows but ${rowBytes} bytes follow it`)
  } else {
    const lastBytes = rowBytes - (rowCount - 1) * fullBytes
    const held = (rowBytes / fullBytes).toFixed(6).replace(/\.?0+$/, '')
    if (lastBytes <= 0) fail('truncated', `ring header says ${rowCount} rows of ${parts} but payload holds ${held} rows`)
    if (lastBytes > fullBytes) fail('trailing-bytes', `ring header says ${rowCount} rows of ${parts} but payload holds ${held} rows (${lastBytes - fullBytes} bytes too many)`)
    if (lastBytes % 2 !== 0) fail('bad-rows', 'row data has an odd number of bytes')
  }
  const rows: Uint16Array[] = []
  let at = 10 + jsonLength
  for (let r = 0; r < rowCount; r++) {
    const len = Math.min(parts, (buf.length - at) / 2)
    // Copy into a fresh, aligned buffer; swap in place when the file's order is not the host's.
    const bytes = new Uint8Array(len * 2)
    bytes.set(buf.subarray(at, at + len * 2))
    if (byteorder !== HOST_ORDER) Buffer.from(bytes.buffer).swap16()
    const row = new Uint16Array(bytes.buffer)
    at += len * 2
    checkRowDevices(row, r, devs, 'bad-rows')
    rows.push(row)
  }
  const out: DecodedRing = { partPower, devs, rows, byteorder, byteorderAssumed }
  if (isUint(header.version)) out.version = header.version
  if (isUint(header.next_part_power)) out.nextPartPower = header.next_part_power
  return out
}

/** Reads a ring.gz written by Swift or by encodeRingGz; throws RingFormatError on anything else. */
export function decodeRingGz (bytes: Uint8Array, opts: DecodeRingOptions = {}): DecodedRing {
  return decodeRingPayload(gunzipSingleMember(bytes, opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES))
}
