// Plain-text output for humans: aligned key/value blocks and column tables.

/** "key   value" lines; array values continue on following lines under the value column. */
export function formatKeyValues (rows: Array<[string, unknown]>): string {
  const width = Math.max(0, ...rows.map(([k]) => k.length))
  const lines: string[] = []
  for (const [key, value] of rows) {
    const values = Array.isArray(value) ? (value.length === 0 ? ['-'] : value.map(displayValue)) : [displayValue(value)]
    values.forEach((v, i) => { lines.push(`${(i === 0 ? key : '').padEnd(width)}  ${v}`) })
  }
  return lines.join('\n') + '\n'
}

export function displayValue (value: unknown): string {
  if (value === null || value === undefined) return '-'
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return JSON.stringify(value)
}

/** A table with a header row; columns are padded to their widest cell. */
export function formatTable (headers: string[], rows: unknown[][]): string {
  const cells = rows.map(r => r.map(displayValue))
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map(r => (r[i] ?? '').length)))
  const line = (r: string[]): string => r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i])).join('  ').trimEnd()
  return [line(headers.map(h => h.toUpperCase())), ...cells.map(line)].join('\n') + '\n'
}

export function formatDuration (ms: number): string {
  let s = Math.floor(ms / 1000)
  const d = Math.floor(s / 86400); s -= d * 86400
  const h = Math.floor(s / 3600); s -= h * 3600
  const m = Math.floor(s / 60); s -= m * 60
  const parts: string[] = []
  if (d > 0) parts.push(`${d}d`)
  if (h > 0) parts.push(`${h}h`)
  if (m > 0) parts.push(`${m}m`)
  parts.push(`${s}s`)
  return parts.join(' ')
}
