// Gives every device spec a stable id. Rules (Swift's, made explicit):
// - a spec with `id` keeps it;
// - a spec without `id` takes the id of the previous device with the same (ip, port, device);
// - a new device takes the lowest id that was already a hole in the previous state, else
//   the next id after the highest known one. Ids freed by this very rebalance are not
//   reused until the next one, so no partition row can point at a stale id that now
//   names a different device.
// Previous devices absent from the specs are removed: their slot becomes `null`.
import { RingBuildError } from './errors.js'
import { MAX_DEVICE_ID, deviceKey } from './builder-validate.js'
import type { DeviceSpec, RingDevice } from './types.js'

function toRingDevice (spec: DeviceSpec, id: number): RingDevice {
  const dev: RingDevice = {
    id,
    region: spec.region,
    zone: spec.zone,
    ip: spec.ip,
    port: spec.port,
    device: spec.device,
    weight: spec.weight,
    meta: spec.meta ?? ''
  }
  if (spec.replication_ip !== undefined) dev.replication_ip = spec.replication_ip
  if (spec.replication_port !== undefined) dev.replication_port = spec.replication_port
  return dev
}

/** Returns the new device table indexed by id (`null` = hole); specs must be validated. */
export function resolveDeviceIds (specs: DeviceSpec[], previous: ReadonlyArray<RingDevice | null>): Array<RingDevice | null> {
  const ids = new Array<number>(specs.length).fill(-1)
  const taken = new Set<number>()
  specs.forEach((spec, i) => {
    if (spec.id !== undefined) { ids[i] = spec.id; taken.add(spec.id) }
  })
  const previousByKey = new Map<string, number>()
  for (const dev of previous) if (dev != null) previousByKey.set(deviceKey(dev), dev.id)
  specs.forEach((spec, i) => {
    if (ids[i] >= 0) return
    const id = previousByKey.get(deviceKey(spec))
    if (id !== undefined && !taken.has(id)) { ids[i] = id; taken.add(id) }
  })
  // Ids a new device may take: holes of the previous state first, then fresh ones.
  const holes: number[] = []
  previous.forEach((dev, id) => { if (dev == null && !taken.has(id)) holes.push(id) })
  let nextFresh = previous.length
  let holeIndex = 0
  specs.forEach((spec, i) => {
    if (ids[i] >= 0) return
    let id: number
    if (holeIndex < holes.length) {
      id = holes[holeIndex++]
    } else {
      while (taken.has(nextFresh)) nextFresh++
      id = nextFresh++
    }
    if (id > MAX_DEVICE_ID) throw new RingBuildError('too-many-devices', `no device id left for ${spec.ip}:${spec.port}/${spec.device}: ids are limited to 0..${MAX_DEVICE_ID}`)
    ids[i] = id
    taken.add(id)
  })
  let length = previous.length
  for (const id of ids) if (id + 1 > length) length = id + 1
  const devs = new Array<RingDevice | null>(length).fill(null)
  specs.forEach((spec, i) => { devs[ids[i]] = toRingDevice(spec, ids[i]) })
  return devs
}
