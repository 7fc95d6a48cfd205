// Shared fixtures for the map tests: well-formed fake PeerIds and sample maps.
import { base58btc } from 'multiformats/bases/base58'
import * as Digest from 'multiformats/hashes/digest'
import { blobCid } from '../protocol/map/blob-cid.js'
import type { ClusterMap } from '../protocol/map/map.js'

/** An Ed25519-shaped PeerId ("12D3KooW…"): identity multihash of a protobuf public key with key bytes derived from n. */
export function fakePeerId (n: number): string {
  const key = new Uint8Array(36)
  key.set([0x08, 0x01, 0x12, 0x20])
  for (let i = 4; i < 36; i++) key[i] = (n * 31 + i * 7) & 0xff
  key[4] = n & 0xff
  key[5] = (n >> 8) & 0xff
  return base58btc.baseEncode(Digest.create(0x00, key).bytes)
}

/** `count` distinct ids, sorted ascending (ids[0] is the lowest). */
export function sortedIds (count: number): string[] {
  const ids: string[] = []
  for (let i = 0; i < count; i++) ids.push(fakePeerId(i + 1))
  return ids.sort()
}

export function cidOfText (s: string): string {
  return blobCid(new TextEncoder().encode(s))
}

export function sampleMap (over: Partial<ClusterMap> = {}): ClusterMap {
  const ids = sortedIds(3)
  return {
    version: 1,
    epoch: 1,
    coordinator: ids[0],
    prev: null,
    rings: {
      object: { cid: cidOfText('object ring'), builderCid: cidOfText('object builder'), partPower: 10, replicas: 3, minPartHours: 1, overload: 0.1, size: 1234 },
      account: { cid: cidOfText('account ring'), builderCid: cidOfText('account builder'), partPower: 8, replicas: 2.5, minPartHours: 0, overload: 0 }
    },
    members: ids,
    createdAt: 1_700_000_000_000,
    ...over
  }
}
