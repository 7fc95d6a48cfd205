// Validation of everything the builder takes from outside: build parameters and
// device specs. Each check throws a RingBuildError naming the field at fault.
import { RingBuildError } from './errors.js'
import type { BuildParams, DeviceSpec, RingDevice } from './types.js'

/** Highest partition power accepted (2^23 partitions). */
export const MAX_PART_POWER = 23
/** Highest replica count accepted (rows are capped by memory long before this matters). */
export const MAX_REPLICAS = 255
/** Largest device id: the v1 ring file stores ids as uint16 and reserves 0xFFFF for "none". */
export const MAX_DEVICE_ID = 0xfffe
/** Cap on the builder's estimated working memory (see estimateWorkingBytes). */
export const MAX_WORKING_BYTES = 768 * 1024 * 1024
/** Longest ip / device / meta string accepted. */
const MAX_NAME_LENGTH = 255
const MAX_META_LENGTH = 4096

/**
 * Bytes the builder holds at its peak for one rebalance: the previous and the new rows
 * (2 bytes each per partition-replica) plus the per-replica scratch (4 bytes), and per
 * partition the move ages, move flags and the visiting order (6 bytes).
 */
export function estimateWorkingBytes (partPower: number, replicas: number): number {
  const parts = 2 ** partPower
  return parts * Math.ceil(replicas) * 8 + parts * 6
}

function isInt (v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v)
}

export function validateParams (params: BuildParams): void {
  if (params == null || typeof params !== 'object') throw new RingBuildError('bad-param', 'params must be an object')
  const { partPower, replicas, minPartHours, overload, seed } = params
  if (!isInt(partPower) || partPower < 1 || partPower > MAX_PART_POWER) {
    throw new RingBuildError('bad-part-power', `partPower must be an integer in 1..${MAX_PART_POWER}, got ${String(partPower)}`)
  }
  if (typeof replicas !== 'number' || !Number.isFinite(replicas) || replicas < 1 || replicas > MAX_REPLICAS) {
    throw new RingBuildError('bad-replicas', `replicas must be a number in 1..${MAX_REPLICAS}, got ${String(replicas)}`)
  }
  const bytes = estimateWorkingBytes(partPower, replicas)
  if (bytes > MAX_WORKING_BYTES) {
    throw new RingBuildError('too-large', `partPower ${partPower} with ${replicas} replicas needs about ${Math.round(bytes / 2 ** 20)} MiB, over the ${MAX_WORKING_BYTES / 2 ** 20} MiB cap`)
  }
  if (!isInt(minPartHours) || minPartHours < 0 || minPartHours > 255) {
    throw new RingBuildError('bad-param', `minPartHours must be an integer in 0..255, got ${String(minPartHours)}`)
  }
  if (typeof overload !== 'number' || !Number.isFinite(overload) || overload < 0) {
    throw new RingBuildError('bad-param', `overload must be a finite number >= 0, got ${String(overload)}`)
  }
  if (!Number.isSafeInteger(seed)) {
    throw new RingBuildError('bad-param', `seed must be a safe integer, got ${String(seed)}`)
  }
}

function checkName (what: string, value: unknown, where: string, maxLength = MAX_NAME_LENGTH): void {
  if (typeof value !== 'string' || value.length === 0) throw new RingBuildError('bad-device', `${where}: ${what} must be a non-empty string`)
  if (value.length > maxLength) throw new RingBuildError('bad-device', `${where}: ${what} is longer than ${maxLength} characters`)
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(value)) throw new RingBuildError('bad-device', `${where}: ${what} ${JSON.stringify(value)} contains whitespace or control characters`)
}

function checkPort (what: string, value: unknown, where: string): void {
  if (!isInt(value) || value < 1 || value > 65535) throw new RingBuildError('bad-device', `${where}: ${what} must be an integer in 1..65535, got ${String(value)}`)
}

/** Checks one device's fields; `where` names it in messages (e.g. "device #3 (10.0.0.1:6200/sdb)"). */
export function validateDeviceFields (dev: DeviceSpec | RingDevice, where: string): void {
  if (dev == null || typeof dev !== 'object') throw new RingBuildError('bad-device', `${where}: must be an object`)
  if (dev.id !== undefined && (!isInt(dev.id) || dev.id < 0 || dev.id > MAX_DEVICE_ID)) {
    throw new RingBuildError('bad-device', `${where}: id must be an integer in 0..${MAX_DEVICE_ID}, got ${String(dev.id)}`)
  }
  if (!isInt(dev.region) || dev.region < 0) throw new RingBuildError('bad-device', `${where}: region must be an integer >= 0, got ${String(dev.region)}`)
  if (!isInt(dev.zone) || dev.zone < 0) throw new RingBuildError('bad-device', `${where}: zone must be an integer >= 0, got ${String(dev.zone)}`)
  checkName('ip', dev.ip, where)
  checkPort('port', dev.port, where)
  checkName('device', dev.device, where)
  if (typeof dev.device === 'string' && dev.device.includes('/')) throw new RingBuildError('bad-device', `${where}: device ${JSON.stringify(dev.device)} must not contain '/'`)
  if (typeof dev.weight !== 'number' || !Number.isFinite(dev.weight) || dev.weight < 0) {
    throw new RingBuildError('bad-device', `${where}: weight must be a finite number >= 0, got ${String(dev.weight)}`)
  }
  if (dev.meta !== undefined && (typeof dev.meta !== 'string' || dev.meta.length > MAX_META_LENGTH)) {
    throw new RingBuildError('bad-device', `${where}: meta must be a string of at most ${MAX_META_LENGTH} characters`)
  }
  if (dev.replication_ip !== undefined) checkName('replication_ip', dev.replication_ip, where)
  if (dev.replication_port !== undefined) checkPort('replication_port', dev.replication_port, where)
}

/** How a device is named in messages. */
export function describeDevice (dev: { ip: unknown, port: unknown, device: unknown }, index: number): string {
  return `device #${index} (${String(dev.ip)}:${String(dev.port)}/${String(dev.device)})`
}

/** The (ip, port, device) identity that matches a spec without id to a known device. */
export function deviceKey (dev: { ip: string, port: number, device: string }): string {
  return `${dev.ip}\u0000${dev.port}\u0000${dev.device}`
}

export function validateDeviceSpecs (devices: DeviceSpec[]): void {
  if (!Array.isArray(devices)) throw new RingBuildError('bad-device', 'devices must be an array')
  if (devices.length > MAX_DEVICE_ID + 1) throw new RingBuildError('too-many-devices', `${devices.length} devices given, the ring format holds at most ${MAX_DEVICE_ID + 1}`)
  const keys = new Map<string, number>()
  const ids = new Map<number, number>()
  devices.forEach((dev, i) => {
    const where = describeDevice(dev ?? {}, i)
    validateDeviceFields(dev, where)
    const key = deviceKey(dev)
    const other = keys.get(key)
    if (other !== undefined) throw new RingBuildError('duplicate-device', `${where} duplicates device #${other}: same ip, port and device name`)
    keys.set(key, i)
    if (dev.id !== undefined) {
      const same = ids.get(dev.id)
      if (same !== undefined) throw new RingBuildError('duplicate-device', `${where} and device #${same} both claim id ${dev.id}`)
      ids.set(dev.id, i)
    }
  })
}
