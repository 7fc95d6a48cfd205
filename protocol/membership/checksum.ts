// Membership checksum: 64-bit FNV-1a over the entries sorted by id, each encoded
// as UTF-8 "id \0 incarnation \0 status \n". Equal strings on two nodes mean they
// hold the same (id, incarnation, status) set (ringpop-style convergence check).
// FNV is not collision resistant; it only has to tell honest views apart. Pure JS,
// so the core needs no node:crypto.

import type { MemberEntry } from './types.js'

const encoder = new TextEncoder()
const PRIME_LOW = 0x1b3 // FNV-64 prime = 2^40 + 0x1b3

export function membershipChecksum (entries: Iterable<MemberEntry>): string {
  return fnv64(sortedById(entries).map(e => `${e.id}\0${e.incarnation}\0${e.status}\n`))
}

/**
 * The live digest: the same hash over the alive and suspect members only, each
 * `id \0 incarnation \n`. Acks carry it (digest repair). Dead and left entries are
 * left out because nodes reap them at different times, which no push-pull changes;
 * alive and suspect are one line because a suspicion is settled by probes, not by
 * anti-entropy.
 */
export function liveDigest (entries: Iterable<MemberEntry>): string {
  const live = [...entries].filter(e => e.status === 'alive' || e.status === 'suspect')
  return fnv64(sortedById(live).map(e => `${e.id}\0${e.incarnation}\n`))
}

function sortedById (entries: Iterable<MemberEntry>): MemberEntry[] {
  return [...entries].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

/** 64-bit FNV-1a over the UTF-8 of `lines`, concatenated, as 16 hex digits. */
function fnv64 (lines: readonly string[]): string {
  let hi = 0xcbf29ce4 // FNV-64 offset basis, split in 32-bit halves
  let lo = 0x84222325
  for (const line of lines) {
    const bytes = encoder.encode(line)
    for (let i = 0; i < bytes.length; i++) {
      lo = (lo ^ bytes[i]) >>> 0
      // (hi:lo) × (2^40 + 0x1b3) mod 2^64; every partial product stays below 2^53.
      const lowProduct = lo * PRIME_LOW
      const carry = Math.floor(lowProduct / 0x100000000)
      const newLo = lowProduct >>> 0
      hi = (hi * PRIME_LOW + carry + ((lo << 8) >>> 0)) >>> 0
      lo = newLo
    }
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0')
}
