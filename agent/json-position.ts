// Where JSON text goes wrong. V8's JSON.parse messages carry a position only for some
// errors ("Unexpected token '}', ..." has none), so after JSON.parse has failed this
// scanner walks the RFC 8259 grammar and reports the first offending character.

export interface JsonErrorPosition {
  offset: number
  line: number
  column: number
}

class Scanner {
  at = 0
  constructor (readonly text: string) {}

  private ws (): void {
    while (this.at < this.text.length && ' \t\n\r'.includes(this.text[this.at])) this.at++
  }

  private fail (): never {
    throw this.at
  }

  private literal (word: string): void {
    for (const ch of word) {
      if (this.text[this.at] !== ch) this.fail()
      this.at++
    }
  }

  private string (): void {
    this.at++ // opening quote
    while (this.at < this.text.length) {
      const c = this.text.charCodeAt(this.at)
      if (c === 0x22) { this.at++; return }
      if (c < 0x20) this.fail()
      if (c === 0x5c) {
        this.at++
        const e = this.text[this.at]
        if (e === 'u') {
          for (let i = 1; i <= 4; i++) if (!/[0-9a-fA-F]/.test(this.text[this.at + i] ?? '')) { this.at += i; this.fail() }
          this.at += 4
        } else if (e === undefined || !'"\\/bfnrt'.includes(e)) this.fail()
      }
      this.at++
    }
    this.fail()
  }

  private number (): void {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?/.exec(this.text.slice(this.at, this.at + 400))
    if (m == null) this.fail()
    this.at += m[0].length
  }

  value (): void {
    this.ws()
    const c = this.text[this.at]
    if (c === '{') return this.container('}', true)
    if (c === '[') return this.container(']', false)
    if (c === '"') return this.string()
    if (c === 't') return this.literal('true')
    if (c === 'f') return this.literal('false')
    if (c === 'n') return this.literal('null')
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number()
    this.fail()
  }

  private container (close: string, isObject: boolean): void {
    this.at++
    this.ws()
    if (this.text[this.at] === close) { this.at++; return }
    for (;;) {
      if (isObject) {
        this.ws()
        if (this.text[this.at] !== '"') this.fail()
        this.string()
        this.ws()
        if (this.text[this.at] !== ':') this.fail()
        this.at++
      }
      this.value()
      this.ws()
      const c = this.text[this.at]
      if (c === ',') { this.at++; continue }
      if (c === close) { this.at++; return }
      this.fail()
    }
  }

  document (): void {
    this.value()
    this.ws()
    if (this.at < this.text.length) this.fail()
  }
}

/** The first syntax error in `text` (1-based line and column), or undefined if it is valid JSON. */
export function jsonErrorPosition (text: string): JsonErrorPosition | undefined {
  const scanner = new Scanner(text)
  try {
    scanner.document()
    return undefined
  } catch (at) {
    if (at instanceof RangeError) return undefined // nested too deep to scan; report without a position
    if (typeof at !== 'number') throw at
    const before = text.slice(0, at)
    const line = before.split('\n').length
    return { offset: at, line, column: at - before.lastIndexOf('\n') }
  }
}
