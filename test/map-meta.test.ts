import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Encoder } from 'cbor-x'
import { decodeNodeMeta, encodeNodeMeta, MAX_DEVICES, MAX_META_BYTES, MetaError, type NodeMeta } from '../protocol/node-meta.js'
import { cidOfText } from './map-fixtures.js'
import { applyDeviceOp, DeviceError, encodeMetaFitting } from '../agent/membership/meta.js'

const plain = new Encoder({ useRecords: false })

function meta (over: Partial<NodeMeta> = {}): NodeMeta {
  return { region: 1, zone: 2, storageIp: '10.0.0.5', storagePort: 6200, devices: [{ name: 'sdb1', weight: 100 }, { name: 'sdc1', weight: 50.5 }], epoch: 7, ready: true, ...over }
}

test('round-trips, with and without holds, IPv4 and IPv6', () => {
  for (const m of [meta(), meta({ holds: [cidOfText('a'), cidOfText('b')] }), meta({ storageIp: 'fd00::1', devices: [], ready: false, epoch: 0 })]) {
    assert.equal(decodeNodeMeta(encodeNodeMeta(m)), m)
  }
})

function rejects (over: Record<string, unknown>, field: string): void {
  try {
    encodeNodeMeta({ ...meta(), ...over } as NodeMeta)
    assert.unreachable(`accepted bad ${field}`)
  } catch (err) {
    assert.instance(err, MetaError)
    assert.is((err as MetaError).code, 'META_INVALID')
    assert.ok((err as MetaError).field?.startsWith(field), `${field}: got ${String((err as MetaError).field)}`)
  }
}

test('validation rejects each bad field', () => {
  rejects({ region: -1 }, 'region')
  rejects({ zone: 1.5 }, 'zone')
  rejects({ storageIp: '10.0.0.256' }, 'storageIp')
  rejects({ storageIp: 'host.example' }, 'storageIp')
  rejects({ storageIp: 'fe80::1%eth0' }, 'storageIp')
  rejects({ storagePort: 0 }, 'storagePort')
  rejects({ storagePort: 65536 }, 'storagePort')
  rejects({ devices: [{ name: '../etc', weight: 1 }] }, 'devices[0].name')
  rejects({ devices: [{ name: 'sd b', weight: 1 }] }, 'devices[0].name')
  rejects({ devices: [{ name: 'sdb', weight: 1 }, { name: 'sdb', weight: 2 }] }, 'devices[1].name')
  rejects({ devices: [{ name: 'sdb', weight: -1 }] }, 'devices[0].weight')
  rejects({ devices: [{ name: 'sdb', weight: Number.POSITIVE_INFINITY }] }, 'devices[0].weight')
  rejects({ devices: Array.from({ length: MAX_DEVICES + 1 }, (_, i) => ({ name: `d${i}`, weight: 1 })) }, 'devices')
  rejects({ epoch: -1 }, 'epoch')
  rejects({ ready: 1 }, 'ready')
  rejects({ holds: ['nope'] }, 'holds[0]')
  rejects({ colour: 'red' }, 'colour')
})

test('decode rejects garbage, wrong version and bad shapes without throwing anything else', () => {
  const bad = [new Uint8Array([0xff]), plain.encode([2, 1, 2, '10.0.0.1', 1, [], 0, true]), plain.encode({ region: 1 }), plain.encode([1, 1, 2, '10.0.0.1', 1, [['sdb', 'heavy']], 0, true]), plain.encode([1, 1, 2, '10.0.0.1', 1, [], 0, true, [new Uint8Array(31)]])]
  for (const b of bad) assert.throws(() => decodeNodeMeta(new Uint8Array(b)), (e: unknown) => e instanceof MetaError)
})

test('the 2 KiB limit: what fits, and a clear error beyond it', () => {
  const devices = Array.from({ length: MAX_DEVICES }, (_, i) => ({ name: `sd${String(i).padStart(5, '0')}`, weight: 100.25 + i }))
  const full = encodeNodeMeta(meta({ devices }))
  assert.ok(full.length <= MAX_META_BYTES, `96 devices with 8-char names take ${full.length} bytes`)
  const holds = Array.from({ length: 52 }, (_, i) => cidOfText(`blob ${i}`))
  const withHolds = encodeNodeMeta(meta({ devices: devices.slice(0, 4), holds }))
  assert.ok(withHolds.length <= MAX_META_BYTES, `4 devices and 52 holds take ${withHolds.length} bytes`)
  const longNames = Array.from({ length: MAX_DEVICES }, (_, i) => ({ name: `device-with-a-long-name-${String(i).padStart(4, '0')}`, weight: 1.5 }))
  try {
    encodeNodeMeta(meta({ devices: longNames }))
    assert.unreachable('oversized meta accepted')
  } catch (err) {
    assert.instance(err, MetaError)
    assert.is((err as MetaError).code, 'META_TOO_LARGE')
    assert.match((err as Error).message, /exceeds 2048 bytes/)
  }
  assert.throws(() => decodeNodeMeta(new Uint8Array(MAX_META_BYTES + 1)), (e: unknown) => e instanceof MetaError && e.code === 'META_TOO_LARGE')
})

test('holds give way to devices: a full device list with many holds keeps the devices and the first holds', () => {
  const devices = Array.from({ length: MAX_DEVICES }, (_, i) => ({ name: `sd${String(i).padStart(5, '0')}`, weight: 100.25 + i }))
  const holds = Array.from({ length: 64 }, (_, i) => cidOfText(`blob ${i}`))
  assert.throws(() => encodeNodeMeta(meta({ devices, holds })), (e: unknown) => e instanceof MetaError && e.code === 'META_TOO_LARGE')
  const fitted = encodeMetaFitting(meta({ devices, holds }))
  assert.ok(fitted.bytes.length <= MAX_META_BYTES)
  const back = decodeNodeMeta(fitted.bytes)
  assert.equal(back.devices, devices)
  const kept = back.holds ?? []
  assert.ok(kept.length >= 1 && kept.length < 64, `${kept.length} holds kept`)
  assert.equal(kept, holds.slice(0, kept.length), 'a prefix: the map hash, first, stays')
  // One more hold would not fit: it dropped only what it had to.
  assert.throws(() => encodeNodeMeta(meta({ devices, holds: holds.slice(0, kept.length + 1) })))
  // A device change on such a node is not refused for the holds' sake.
  const added = applyDeviceOp(meta({ devices: devices.slice(0, 95), holds }), { op: 'add', name: 'sdnew', weight: 10 })
  assert.is(added.meta.devices.length, 96)
  // Devices that cannot fit still fail, with the device error the CLI reports.
  const longNames = Array.from({ length: MAX_DEVICES }, (_, i) => ({ name: `device-with-a-long-name-${String(i).padStart(4, '0')}`, weight: 1.5 }))
  assert.throws(() => encodeMetaFitting(meta({ devices: longNames, holds })), (e: unknown) => e instanceof DeviceError && e.code === 'meta-too-large')
})

test.run()
