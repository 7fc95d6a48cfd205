// The ring header is JSON as Python's `json.dumps(obj, sort_keys=True, ensure_ascii=True)`
// prints it. Swift writes it that way; matching it byte for byte means a ring we write and
// a ring Swift writes for the same data decompress to the same payload.
// Python differs from JSON.stringify in three ways that matter here: separators ", " and
// ": ", floats always carry a fraction or exponent ("100.0", "1e-05"), and every
// character outside printable ASCII is escaped as \uXXXX.

/** A value the header writer understands; `PyFloat` marks numbers Python holds as floats. */
export type PyJson = null | boolean | string | number | PyFloat | PyJson[] | { [key: string]: PyJson | undefined }

/** A number Python would hold as `float` (Swift coerces device weights with float()). */
export class PyFloat {
  constructor (readonly value: number) {}
}

/** Python's `repr(float)`: shortest round-trip digits, fixed notation for 1e-4 ≤ |x| < 1e16. */
export function pyFloatRepr (x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`cannot write ${x} as a float: the ring header allows finite numbers only`)
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0'
  const sign = x < 0 ? '-' : ''
  // toExponential() without an argument yields the shortest digits that round-trip.
  const [mantissa, expText] = Math.abs(x).toExponential().split('e')
  const digits = mantissa.replace('.', '')
  const exp = Number(expText)
  if (exp < -4 || exp >= 16) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits
    const expSign = exp < 0 ? '-' : '+'
    return `${sign}${mant}e${expSign}${String(Math.abs(exp)).padStart(2, '0')}`
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`
  const intLen = exp + 1
  if (digits.length <= intLen) return `${sign}${digits}${'0'.repeat(intLen - digits.length)}.0`
  return `${sign}${digits.slice(0, intLen)}.${digits.slice(intLen)}`
}

function pyString (s: string): string {
  let out = '"'
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0x22) out += '\\"'
    else if (c === 0x5c) out += '\\\\'
    else if (c >= 0x20 && c <= 0x7e) out += s[i]
    else if (c === 0x0a) out += '\\n'
    else if (c === 0x0d) out += '\\r'
    else if (c === 0x09) out += '\\t'
    else if (c === 0x08) out += '\\b'
    else if (c === 0x0c) out += '\\f'
    // UTF-16 code units, so astral characters come out as surrogate pairs, as in Python.
    else out += '\\u' + c.toString(16).padStart(4, '0')
  }
  return out + '"'
}

/** Serialise like `json.dumps(value, sort_keys=True, ensure_ascii=True)`; object keys with `undefined` are left out. */
export function pyJsonDumps (value: PyJson): string {
  if (value === null) return 'null'
  if (value === true) return 'true'
  if (value === false) return 'false'
  if (typeof value === 'string') return pyString(value)
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`cannot write ${value} as an integer`)
    return String(value)
  }
  if (value instanceof PyFloat) return pyFloatRepr(value.value)
  if (Array.isArray(value)) return '[' + value.map(pyJsonDumps).join(', ') + ']'
  const keys = Object.keys(value).filter(k => value[k] !== undefined).sort()
  return '{' + keys.map(k => `${pyString(k)}: ${pyJsonDumps(value[k] as PyJson)}`).join(', ') + '}'
}
