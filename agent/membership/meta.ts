// This node's NodeMeta: built from the start flags (--region, --zone,
// --storage-ip, --storage-port, --device) and changed at run time by
// `agent device add|set|remove` and by the map service (epoch, ready, holds).
// Every change is validated and size-checked by encodeNodeMeta before it reaches
// membership, so a bad request changes nothing.
import { encodeNodeMeta, MetaError, DEVICE_NAME, MAX_WEIGHT, type NodeDevice, type NodeMeta } from '../../protocol/node-meta.js'
import type { AgentConfig } from '../config.js'

export const DEFAULT_REGION = 1
export const DEFAULT_ZONE = 1
export const DEFAULT_STORAGE_IP = '127.0.0.1'
/** Swift's object server port. */
export const DEFAULT_STORAGE_PORT = 6200
export const DEFAULT_WEIGHT = 100

export type DeviceOp =
  | { op: 'add', name: string, weight: number }
  | { op: 'set', name: string, weight: number }
  | { op: 'remove', name: string }

export class DeviceError extends Error {
  constructor (readonly code: 'unknown-device' | 'device-exists' | 'invalid-device' | 'meta-too-large', message: string) {
    super(message)
    this.name = 'DeviceError'
  }
}

export function metaFromConfig (config: Pick<AgentConfig, 'region' | 'zone' | 'storageIp' | 'storagePort' | 'devices'>): NodeMeta {
  return {
    region: config.region ?? DEFAULT_REGION,
    zone: config.zone ?? DEFAULT_ZONE,
    storageIp: config.storageIp ?? DEFAULT_STORAGE_IP,
    storagePort: config.storagePort ?? DEFAULT_STORAGE_PORT,
    devices: config.devices.map(d => ({ name: d.name, weight: d.weight })),
    epoch: 0,
    ready: false
  }
}

function checkName (name: string): void {
  if (!DEVICE_NAME.test(name)) throw new DeviceError('invalid-device', `bad device name ${JSON.stringify(name)}: 1-32 of letters, digits, . _ -, starting with a letter or digit`)
}

function checkWeight (weight: number): void {
  if (!Number.isFinite(weight) || weight < 0 || weight > MAX_WEIGHT) throw new DeviceError('invalid-device', `bad weight ${String(weight)}: must be a finite number in [0, ${MAX_WEIGHT}]`)
}

/** Parses the CLI form NAME[:WEIGHT] (weight default 100). */
export function parseDeviceArg (text: string): { name: string, weight: number } {
  const colon = text.lastIndexOf(':')
  const name = colon < 0 ? text : text.slice(0, colon)
  const weightText = colon < 0 ? undefined : text.slice(colon + 1)
  checkName(name)
  const weight = weightText === undefined ? DEFAULT_WEIGHT : parseWeight(weightText)
  return { name, weight }
}

export function parseWeight (text: string): number {
  if (!/^\s*[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?\s*$/.test(text)) throw new DeviceError('invalid-device', `bad weight ${JSON.stringify(text)}: expected a number >= 0`)
  const weight = Number(text)
  checkWeight(weight)
  return weight
}

/** Applies a device change; returns the new meta and its encoding, or throws DeviceError. */
export function applyDeviceOp (meta: NodeMeta, change: DeviceOp): { meta: NodeMeta, bytes: Uint8Array } {
  checkName(change.name)
  const devices: NodeDevice[] = meta.devices.map(d => ({ ...d }))
  const at = devices.findIndex(d => d.name === change.name)
  switch (change.op) {
    case 'add':
      checkWeight(change.weight)
      if (at >= 0) throw new DeviceError('device-exists', `device ${change.name} already exists (weight ${devices[at].weight}); use "device set"`)
      devices.push({ name: change.name, weight: change.weight })
      break
    case 'set':
      checkWeight(change.weight)
      if (at < 0) throw new DeviceError('unknown-device', `no device ${change.name} on this node`)
      devices[at].weight = change.weight
      break
    case 'remove':
      if (at < 0) throw new DeviceError('unknown-device', `no device ${change.name} on this node`)
      devices.splice(at, 1)
      break
  }
  return encodeMetaFitting({ ...meta, devices })
}

/**
 * Encodes meta, dropping held CIDs from the end until it fits the size limit. Holds
 * only tell fetchers where to look (the map hash, first, matters most), so a device
 * change or a new epoch must never be refused for their sake; the devices must fit.
 */
export function encodeMetaFitting (meta: NodeMeta): { meta: NodeMeta, bytes: Uint8Array } {
  let next = meta
  for (;;) {
    try {
      return { meta: next, bytes: encodeNodeMeta(next) }
    } catch (err) {
      const holds = next.holds ?? []
      if (!(err instanceof MetaError) || err.code !== 'META_TOO_LARGE' || holds.length === 0) return { meta: next, bytes: encodeMetaOrThrow(next) }
      next = { ...next, holds: holds.slice(0, -1) } // at most 64 small encodes, and rare
    }
  }
}

/** encodeNodeMeta with its MetaError turned into a DeviceError the socket can report. */
export function encodeMetaOrThrow (meta: NodeMeta): Uint8Array {
  try {
    return encodeNodeMeta(meta)
  } catch (err) {
    if (err instanceof MetaError) throw new DeviceError(err.code === 'META_TOO_LARGE' ? 'meta-too-large' : 'invalid-device', err.message)
    throw err
  }
}
