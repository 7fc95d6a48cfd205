// devices.json: the operator's list of ring devices for `agent ring build`.
//   [{ "region": 1, "zone": 1, "ip": "10.0.0.1", "port": 6200, "device": "sdb", "weight": 100,
//      "meta": "optional", "id": 0, "replication_ip": "10.1.0.1", "replication_port": 6300 }, …]
// Validation is strict and every message names the entry index and the field, so a typo
// ("wieght") is reported instead of silently building a ring without it.
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import type { DeviceSpec } from '../ring/types.js'
import { jsonErrorPosition } from './json-position.js'

export type DevicesFileErrorCode = 'bad-json' | 'bad-shape' | 'bad-field' | 'unknown-field' | 'duplicate' | 'unreadable'

export class DevicesFileError extends Error {
  override readonly name = 'DevicesFileError'
  constructor (readonly code: DevicesFileErrorCode, message: string) {
    super(message)
  }
}

const REQUIRED = ['region', 'zone', 'ip', 'port', 'device', 'weight'] as const
const OPTIONAL = ['meta', 'id', 'replication_ip', 'replication_port'] as const
const KNOWN = new Set<string>([...REQUIRED, ...OPTIONAL])
/** Format v1 stores device ids as uint16 with 0xFFFF meaning "none". */
export const MAX_DEVICE_ID = 0xfffe
export const MAX_DEVICES = MAX_DEVICE_ID + 1
export const MAX_META_LENGTH = 1024
/** devices.json larger than this is refused before parsing. */
export const MAX_DEVICES_FILE_BYTES = 64 << 20
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/** Edit distance, for "did you mean" on unknown fields. */
function distance (a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]
    prev[0] = i
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1))
      diag = up
    }
  }
  return prev[b.length]
}

function suggestion (key: string): string {
  let best: string | undefined
  let bestDistance = 3
  for (const known of KNOWN) {
    const d = distance(key.toLowerCase(), known)
    if (d < bestDistance) { best = known; bestDistance = d }
  }
  return best === undefined ? '' : ` (did you mean "${best}"?)`
}

function parseJson (text: string, source: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    const at = jsonErrorPosition(text)
    const where = at != null ? ` at line ${at.line} column ${at.column}` : ''
    throw new DevicesFileError('bad-json', `${source}: malformed JSON${where}: ${(err as Error).message}`)
  }
}

function checkHost (value: unknown, field: string, where: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new DevicesFileError('bad-field', `${where}: field "${field}" must be a non-empty string, got ${JSON.stringify(value)}`)
  if (value.startsWith('[')) throw new DevicesFileError('bad-field', `${where}: field "${field}" ${JSON.stringify(value)}: write IPv6 addresses without brackets`)
  if (isIP(value) === 0 && !HOSTNAME.test(value)) throw new DevicesFileError('bad-field', `${where}: field "${field}" ${JSON.stringify(value)} is neither an IP address nor a host name`)
  return value
}

function checkInt (value: unknown, field: string, where: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new DevicesFileError('bad-field', `${where}: field "${field}" must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`)
  }
  return value
}

function parseEntry (raw: unknown, index: number, source: string): DeviceSpec {
  const where = `${source} entry ${index}`
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new DevicesFileError('bad-shape', `${where}: must be an object, got ${Array.isArray(raw) ? 'an array' : JSON.stringify(raw)}`)
  const entry = raw as Record<string, unknown>
  for (const key of Object.keys(entry)) {
    if (!KNOWN.has(key)) throw new DevicesFileError('unknown-field', `${where}: unknown field "${key}"${suggestion(key)}`)
  }
  for (const key of REQUIRED) {
    if (entry[key] === undefined) throw new DevicesFileError('bad-field', `${where}: field "${key}" is missing`)
  }
  const device = entry.device
  if (typeof device !== 'string' || device.length === 0 || device.length > 255 || /[\s/\x00-\x1f\x7f]/.test(device)) {
    throw new DevicesFileError('bad-field', `${where}: field "device" must be a non-empty name without '/' or whitespace, got ${JSON.stringify(device)}`)
  }
  const weight = entry.weight
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) {
    throw new DevicesFileError('bad-field', `${where}: field "weight" must be a number >= 0, got ${JSON.stringify(weight)}`)
  }
  const spec: DeviceSpec = {
    region: checkInt(entry.region, 'region', where, 0, 2 ** 31 - 1),
    zone: checkInt(entry.zone, 'zone', where, 0, 2 ** 31 - 1),
    ip: checkHost(entry.ip, 'ip', where),
    port: checkInt(entry.port, 'port', where, 1, 65535),
    device,
    weight
  }
  if (entry.meta !== undefined) {
    if (typeof entry.meta !== 'string' || entry.meta.length > MAX_META_LENGTH) {
      throw new DevicesFileError('bad-field', `${where}: field "meta" must be a string of at most ${MAX_META_LENGTH} characters`)
    }
    spec.meta = entry.meta
  }
  if (entry.id !== undefined) spec.id = checkInt(entry.id, 'id', where, 0, MAX_DEVICE_ID)
  if (entry.replication_ip !== undefined) spec.replication_ip = checkHost(entry.replication_ip, 'replication_ip', where)
  if (entry.replication_port !== undefined) spec.replication_port = checkInt(entry.replication_port, 'replication_port', where, 1, 65535)
  return spec
}

/** Parses and validates the text of a devices file; `source` names it in messages. */
export function parseDevicesFile (text: string, source = 'devices.json'): DeviceSpec[] {
  const value = parseJson(text, source)
  if (!Array.isArray(value)) throw new DevicesFileError('bad-shape', `${source}: must be a JSON array of devices, got ${value === null ? 'null' : typeof value}`)
  if (value.length === 0) throw new DevicesFileError('bad-shape', `${source}: lists no devices`)
  if (value.length > MAX_DEVICES) throw new DevicesFileError('bad-shape', `${source}: ${value.length} devices, the ring format holds at most ${MAX_DEVICES}`)
  const specs = value.map((raw, i) => parseEntry(raw, i, source))
  const byKey = new Map<string, number>()
  const byId = new Map<number, number>()
  specs.forEach((spec, i) => {
    const key = `${spec.ip}\u0000${spec.port}\u0000${spec.device}`
    const other = byKey.get(key)
    if (other !== undefined) throw new DevicesFileError('duplicate', `${source} entry ${i}: same ip, port and device (${spec.ip}:${spec.port}/${spec.device}) as entry ${other}`)
    byKey.set(key, i)
    if (spec.id !== undefined) {
      const same = byId.get(spec.id)
      if (same !== undefined) throw new DevicesFileError('duplicate', `${source} entry ${i}: field "id" ${spec.id} is already used by entry ${same}`)
      byId.set(spec.id, i)
    }
  })
  return specs
}

/** Reads and validates a devices file; I/O problems become DevicesFileError('unreadable'). */
export async function readDevicesFile (path: string): Promise<DeviceSpec[]> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    throw new DevicesFileError('unreadable', `cannot read devices file ${path}: ${(err as Error).message}`)
  }
  if (bytes.length > MAX_DEVICES_FILE_BYTES) throw new DevicesFileError('bad-shape', `${path}: ${bytes.length} bytes, over the ${MAX_DEVICES_FILE_BYTES}-byte limit`)
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new DevicesFileError('bad-json', `${path}: not valid UTF-8`)
  }
  return parseDevicesFile(text, path)
}
