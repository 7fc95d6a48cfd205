// Membership checksum: 64-bit FNV-1a over the entries sorted by id, each encoded
// as UTF-8 "id \0 incarnation \0 status \n". Equal strings on two nodes mean they
// hold the same (id, incarnation, status) set (ringpop-style convergence check).
// FNV is not collision resistant; it only has to tell honest views apart. Pure JS,
// so the core needs no node:crypto.

import type { MemberEntry } from './types.js'

const encoder = new TextEncoder()
const PRIME_LOW = 0x1b3 // FNV-64 prime = 2^40 + 0x1b3

export function membershipChecksum (entries: Iterable<MemberEntry>): string {
  const sorted = [...entries].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  let hi = 0xcbf29ce4 // FNV-64 offset basis, split in 32-bit halves
  let lo = 0x84222325
  for (const e of sorted) {
    const bytes = encoder.encode(`${e.id}\0${e.incarnation}\0${e.status}\n`)
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
