import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { gunzipSync, gzipSync } from 'node:zlib'
import {
  decodeRingGz, decodeRingPayload, encodeRingGz, encodeRingPayload, RingFormatError, SWIFT_GZIP_MTIME,
  type DecodedRing, type RingFormatErrorCode
} from '../ring/format.js'
import { pyFloatRepr, pyJsonDumps, PyFloat } from '../ring/python-json.js'
import { cidOf, cidString, parseCid, verifyCid, AddressError } from '../ring/address.js'
import { base36 } from 'multiformats/bases/base36'
import type { RingData } from '../ring/types.js'
import { sampleRing } from './helpers/sample-ring.js'

function sameRing (got: RingData, want: RingData): void {
  assert.is(got.partPower, want.partPower)
  assert.equal(got.devs, want.devs)
  assert.is(got.rows.length, want.rows.length)
  got.rows.forEach((row, r) => {
    assert.is(row.length, want.rows[r].length, `row ${r} length`)
    assert.ok(Buffer.compare(Buffer.from(row.buffer, row.byteOffset, row.byteLength), Buffer.from(want.rows[r].buffer, want.rows[r].byteOffset, want.rows[r].byteLength)) === 0, `row ${r} entries`)
  })
}

function rejects (bytes: Uint8Array, code: RingFormatErrorCode, message: RegExp, opts?: { maxPayloadBytes?: number }): void {
  try {
    decodeRingGz(bytes, opts)
  } catch (err) {
    assert.instance(err, RingFormatError)
    assert.is((err as RingFormatError).code, code, (err as Error).message)
    assert.match((err as Error).message, message)
    return
  }
  assert.unreachable(`decoded a ring that should fail with ${code}`)
}

/** Rewrites the JSON header of a ring payload and gzips it again. */
function withHeader (ring: RingData, edit: (h: Record<string, unknown>) => void, rowBytesDelta = 0): Uint8Array {
  const payload = Buffer.from(encodeRingPayload(ring))
  const len = payload.readUInt32BE(6)
  const header = JSON.parse(payload.subarray(10, 10 + len).toString()) as Record<string, unknown>
  edit(header)
  const json = Buffer.from(JSON.stringify(header))
  const lenBuf = Buffer.alloc(4)
  lenBuf.writeUInt32BE(json.length)
  let rows = payload.subarray(10 + len)
  if (rowBytesDelta < 0) rows = rows.subarray(0, rows.length + rowBytesDelta)
  if (rowBytesDelta > 0) rows = Buffer.concat([rows, Buffer.alloc(rowBytesDelta)])
  return gzipSync(Buffer.concat([payload.subarray(0, 6), lenBuf, json, rows]))
}

const fractional = sampleRing({ partPower: 8, replicas: 2.5, devices: 10, regions: 2, holes: [3], seed: 5 })

for (const replicas of [1, 2, 2.5, 3]) {
  for (const byteorder of ['little', 'big'] as const) {
    test(`round trip: ${replicas} replicas, ${byteorder}-endian`, () => {
      const ring = sampleRing({ partPower: 7, replicas, devices: 9, regions: 2, holes: [4], seed: replicas * 10 })
      ring.devs[1] = { ...ring.devs[1]!, replication_ip: '192.168.9.1', replication_port: 6300, meta: 'naïve ✓ "quoted"\n' }
      const back = decodeRingGz(encodeRingGz(ring, { byteorder, version: 12 }))
      sameRing(back, ring)
      assert.is(back.byteorder, byteorder)
      assert.is(back.version, 12)
      assert.is(back.rows.length, Math.ceil(replicas))
      assert.is(back.rows.at(-1)!.length, Math.floor(128 * (replicas % 1 === 0 ? 1 : replicas % 1)))
    })
  }
}

test('the two byte orders differ on the wire but hold the same ring', () => {
  const little = gunzipSync(encodeRingGz(fractional, { byteorder: 'little' }))
  const big = gunzipSync(encodeRingGz(fractional, { byteorder: 'big' }))
  assert.not.equal(little, big)
  sameRing(decodeRingPayload(little), decodeRingPayload(big))
})

test('encoding is deterministic: same bytes, same CID, Swift\'s fixed gzip header', () => {
  const a = encodeRingGz(fractional)
  const b = encodeRingGz(sampleRing({ partPower: 8, replicas: 2.5, devices: 10, regions: 2, holes: [3], seed: 5 }))
  assert.equal(Buffer.from(a), Buffer.from(b))
  assert.is(cidString(a), cidString(b))
  const head = Buffer.from(a.subarray(0, 10))
  assert.equal([...head.subarray(0, 4)], [0x1f, 0x8b, 8, 0])
  assert.is(head.readUInt32LE(4), SWIFT_GZIP_MTIME)
  assert.equal([head[8], head[9]], [2, 255])
  const named = Buffer.from(encodeRingGz(fractional, { gzipName: 'object.ring' }))
  assert.is(named[3], 8)
  assert.is(named.subarray(10, 22).toString('latin1'), 'object.ring\0')
  sameRing(decodeRingGz(named), fractional)
})

test('header JSON is written the way Python json.dumps(sort_keys=True) writes it', () => {
  const ring: RingData = { partPower: 1, devs: [{ id: 0, region: 1, zone: 2, ip: '::1', port: 6200, device: 'd', weight: 100, meta: 'é' }], rows: [Uint16Array.of(0, 0)] }
  const payload = Buffer.from(encodeRingPayload(ring))
  const json = payload.subarray(10, 10 + payload.readUInt32BE(6)).toString('ascii')
  assert.is(json, '{"byteorder": "little", "devs": [{"device": "d", "id": 0, "ip": "::1", "meta": "\\u00e9", "port": 6200, "region": 1, "weight": 100.0, "zone": 2}], "part_shift": 31, "replica_count": 1}')
})

test('Python float repr for weights', () => {
  const cases: Array<[number, string]> = [
    [100, '100.0'], [0, '0.0'], [-0, '-0.0'], [1.5, '1.5'], [0.1, '0.1'], [1e-4, '0.0001'], [1e-5, '1e-05'],
    [123456789012345.6, '123456789012345.6'], [1e15, '1000000000000000.0'], [1e16, '1e+16'], [1.5e300, '1.5e+300'],
    [2.5e-7, '2.5e-07'], [5e-324, '5e-324'], [1 / 3, '0.3333333333333333']
  ]
  for (const [x, want] of cases) assert.is(pyFloatRepr(x), want, String(x))
  assert.throws(() => pyFloatRepr(Number.NaN), /finite/)
  assert.is(pyJsonDumps({ b: [1, new PyFloat(2)], a: 'x\u0001\u{1F600}' }), '{"a": "x\\u0001\\ud83d\\ude00", "b": [1, 2.0]}')
})

test('rejects input that is not one whole gzip member holding one whole ring', () => {
  const good = encodeRingGz(fractional)
  rejects(new TextEncoder().encode('{"devs": []}'), 'not-gzip', /not a gzip file/)
  rejects(good.subarray(0, 6), 'truncated', /gzip header truncated/)
  rejects(good.subarray(0, good.length - 20), 'truncated', /truncated/)
  rejects(good.subarray(0, good.length - 3), 'truncated', /gzip trailer truncated: 5 of 8 bytes/)
  rejects(Buffer.concat([good, Buffer.from('xyz')]), 'trailing-bytes', /3 unexpected bytes after the gzip member/)
  rejects(Buffer.concat([good, good]), 'multi-member', /more than one member/)
  const flipped = Buffer.from(good)
  flipped[good.length - 8] ^= 0xff
  rejects(flipped, 'corrupt', /CRC32 mismatch/)
  const garbled = Buffer.from(good)
  for (let i = 12; i < 40; i++) garbled[i] ^= 0x5a
  rejects(garbled, 'corrupt', /corrupt|CRC32/)
  rejects(good, 'too-large', /larger than the 1000-byte cap/, { maxPayloadBytes: 1000 })
})

test('rejects payloads that are not a v1 ring, naming what is wrong', () => {
  const payload = Buffer.from(encodeRingPayload(fractional))
  rejects(gzipSync(Buffer.concat([Buffer.from('R2NG'), payload.subarray(4)])), 'bad-magic', /does not start with "R1NG"/)
  rejects(gzipSync(Buffer.from([0x80, 0x02, 0x7d, 0x71])), 'bad-magic', /pickled ring/)
  const v2 = Buffer.from(payload)
  v2.writeUInt16BE(2, 4)
  rejects(gzipSync(v2), 'unsupported-version', /version 2 is not supported/)
  const longJson = Buffer.from(payload)
  longJson.writeUInt32BE(payload.length, 6)
  rejects(gzipSync(longJson), 'truncated', /header claims \d+ bytes but only \d+ follow/)
  rejects(gzipSync(Buffer.concat([payload.subarray(0, 10), Buffer.from('{not json'), payload.subarray(19)])), 'bad-header', /does not parse/)
  // 2.5 rows of 256 announced as 3 full rows: the last row is short, which is legal; announce 4 instead.
  rejects(withHeader(fractional, h => { h.replica_count = 4 }), 'truncated', /ring header says 4 rows of 256 but payload holds 2\.5 rows/)
  rejects(withHeader(fractional, h => { h.replica_count = 2 }), 'trailing-bytes', /says 2 rows of 256 but payload holds 2\.5 rows/)
  rejects(withHeader(fractional, () => {}, -1), 'bad-rows', /odd number of bytes/)
  rejects(withHeader(fractional, h => { h.part_shift = 40 }), 'bad-header', /part_shift must be an integer 0\.\.32, got 40/)
  rejects(withHeader(fractional, h => { h.byteorder = 'middle' }), 'bad-header', /byteorder must be "little" or "big"/)
  rejects(withHeader(fractional, h => { (h.devs as Array<Record<string, unknown>>)[0].port = 'x' }), 'bad-header', /devs\[0\]: port must be an integer/)
  rejects(withHeader(fractional, h => { (h.devs as Array<Record<string, unknown>>)[1].id = 7 }), 'bad-header', /devs\[1\]: id is 7 but a device's id must equal its index 1/)
  rejects(withHeader(fractional, h => { (h.devs as unknown[])[0] = null }), 'bad-rows', /names device 0, which is not in the device list/)
})

test('every truncation and every single-byte corruption is a RingFormatError or a harmless change', () => {
  const small = sampleRing({ partPower: 3, replicas: 1.5, devices: 3, seed: 2 })
  const good = Buffer.from(encodeRingGz(small))
  for (let len = 0; len < good.length; len++) {
    assert.throws(() => decodeRingGz(good.subarray(0, len)), (e: unknown) => e instanceof RingFormatError, `truncated to ${len}`)
  }
  const accepted: string[] = []
  for (let i = 0; i < good.length; i++) {
    for (const mask of [0x01, 0x80, 0xff]) {
      const bad = Buffer.from(good)
      bad[i] ^= mask
      try {
        sameRing(decodeRingGz(bad), small)
        accepted.push(`${i}^${mask}`)
      } catch (err) {
        assert.instance(err, RingFormatError, `byte ${i} ^ ${mask}: ${String(err)}`)
      }
    }
  }
  // Accepted flips decoded to the very same ring (sameRing above). They can only be the
  // meaningless bits: FTEXT (byte 3 bit 0), mtime/XFL/OS (bytes 4..9), and padding bits
  // after the deflate stream's end-of-block code in its last byte.
  const lastDeflateByte = good.length - 9
  for (const flip of accepted) {
    const [i, mask] = flip.split('^').map(Number)
    assert.ok(flip === '3^1' || (i >= 4 && i <= 9) || (i === lastDeflateByte && mask !== 0xff), `flip ${flip} was accepted`)
  }
  assert.ok(accepted.includes('4^255') && accepted.includes('9^1'))
  const payload = Buffer.from(encodeRingPayload(small))
  for (let i = 0; i < payload.length; i++) {
    const bad = Buffer.from(payload)
    bad[i] ^= 0x21
    try {
      decodeRingPayload(bad)
    } catch (err) {
      assert.instance(err, RingFormatError, `payload byte ${i}: ${String(err)}`)
    }
  }
})

test('a header without byteorder is read as little-endian and says so', () => {
  const back: DecodedRing = decodeRingGz(withHeader(fractional, h => { delete h.byteorder }))
  assert.ok(back.byteorderAssumed)
  sameRing(back, fractional)
})

test('encode refuses rings Swift could not load', () => {
  const shortRow: RingData = { ...fractional, rows: [fractional.rows[0].subarray(1), fractional.rows[1]] }
  assert.throws(() => encodeRingGz(shortRow), (e: unknown) => e instanceof RingFormatError && e.code === 'invalid-ring' && /row 0 has 255 entries; every row but the last must have 256/.test(e.message))
  const badDev: RingData = { ...fractional, rows: [Uint16Array.from(fractional.rows[0], () => 3)] }
  assert.throws(() => encodeRingGz(badDev), /row 0 partition 0 names device 3, which is not in the device list/)
  assert.throws(() => encodeRingGz({ ...fractional, devs: [{ ...fractional.devs[0]!, id: 9 }] }), /devs\[0\] has id 9/)
})

test('content addresses: CIDv1 raw sha2-256, canonical strings only', () => {
  const bytes = encodeRingGz(fractional)
  const cid = cidOf(bytes)
  assert.is(cid.version, 1)
  assert.is(cid.code, 0x55)
  assert.is(cid.multihash.code, 0x12)
  assert.ok(cid.toString().startsWith('bafkrei'))
  assert.is(cidString(bytes), cid.toString())
  assert.ok(parseCid(cid.toString()).equals(cid))
  assert.ok(verifyCid(cid, bytes))
  assert.ok(verifyCid(cid.toString(), bytes))
  const tampered = Uint8Array.from(bytes)
  tampered[20] ^= 1
  assert.not.ok(verifyCid(cid, tampered))
  // sha256("") is well known: e3b0c442…
  assert.is(Buffer.from(cidOf(new Uint8Array(0)).multihash.digest).toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  const bad = (s: string, msg: RegExp): void => {
    assert.throws(() => parseCid(s), (e: unknown) => e instanceof AddressError && e.code === 'invalid-cid' && msg.test(e.message))
  }
  bad('', /non-empty/)
  bad('hello', /is not a CID/)
  bad('QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG', /CIDv0/)
  bad('bafyreigdmqpykrgxyaxtlafqpqhzrb7qy2rh75nldvfd4tucqmqqme5yse', /codec 0x71/)
  bad(cid.toString().toUpperCase(), /not a CID/)
  bad(cid.toV1().toString(base36), /canonical base32/)
})

test.run()
