// Schema readers for decoded CBOR values. Each returns the typed value or throws
// WireError('invalid-message') naming the field. Objects must be plain and only
// own properties are read (no prototype tricks).

import { WireError } from './errors.js'
import { MAX_COUNTER } from './limits.js'

export type Fields = Readonly<Record<string, unknown>>

export function readObject (v: unknown, field: string, allowed: readonly string[]): Fields {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    throw new WireError('invalid-message', 'expected a map', field)
  }
  const proto = Object.getPrototypeOf(v)
  if (proto !== Object.prototype && proto !== null) throw new WireError('invalid-message', 'expected a plain map', field)
  for (const key of Object.keys(v)) {
    if (!allowed.includes(key)) throw new WireError('invalid-message', `unexpected key ${JSON.stringify(key.slice(0, 40))}`, field)
  }
  return v as Fields
}

function own (o: Fields, key: string, field: string): unknown {
  if (!Object.prototype.hasOwnProperty.call(o, key)) throw new WireError('invalid-message', 'missing', `${field}.${key}`)
  return o[key]
}

export function readCounter (o: Fields, key: string, field: string): number {
  const v = own(o, key, field)
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_COUNTER) {
    throw new WireError('invalid-message', 'expected a non-negative safe integer', `${field}.${key}`)
  }
  return v
}

export function readBoolean (o: Fields, key: string, field: string): boolean {
  const v = own(o, key, field)
  if (typeof v !== 'boolean') throw new WireError('invalid-message', 'expected a boolean', `${field}.${key}`)
  return v
}

export function readString (o: Fields, key: string, field: string, maxLength: number): string {
  return checkString(own(o, key, field), `${field}.${key}`, maxLength)
}

export function checkString (v: unknown, field: string, maxLength: number): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLength) {
    throw new WireError('invalid-message', `expected a string of 1..${maxLength} characters`, field)
  }
  return v
}

export function readStrings (o: Fields, key: string, field: string, maxCount: number, maxLength: number): string[] {
  const v = own(o, key, field)
  if (!Array.isArray(v) || v.length > maxCount) throw new WireError('invalid-message', `expected at most ${maxCount} strings`, `${field}.${key}`)
  return v.map((s, i) => checkString(s, `${field}.${key}[${i}]`, maxLength))
}

/** Copies the bytes so the result does not pin the whole received buffer. */
export function readBytes (o: Fields, key: string, field: string, maxLength: number): Uint8Array {
  const v = own(o, key, field)
  if (!(v instanceof Uint8Array) || v.length > maxLength) throw new WireError('invalid-message', `expected at most ${maxLength} bytes`, `${field}.${key}`)
  return new Uint8Array(v)
}

export function readArray (o: Fields, key: string, field: string, maxCount: number): unknown[] {
  const v = own(o, key, field)
  if (!Array.isArray(v) || v.length > maxCount) throw new WireError('invalid-message', `expected an array of at most ${maxCount} items`, `${field}.${key}`)
  return v
}
