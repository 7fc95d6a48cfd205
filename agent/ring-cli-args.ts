// Shared pieces of the `agent ring` subcommands: strict flag parsing, number flags,
// input reading, and the usage error that maps to exit code 2.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { decodeRingGz } from '../ring/format.js'
import { parseArgs, type ParseArgsConfig } from 'node:util'

export interface RingCliIo {
  stdout: (s: string) => void
  stderr: (s: string) => void
}

/** Injected for tests; the CLI reads the clock only here. */
export interface RingCliDeps {
  now?: () => number
}

/** Wrong command line: exit 2. */
export class RingUsageError extends Error {
  readonly code = 'ERR_USAGE'
}

export const EXIT_OK = 0
export const EXIT_RUNTIME = 1
export const EXIT_USAGE = 2

type Options = NonNullable<ParseArgsConfig['options']>

export function parse (args: string[], options: Options, allowPositionals: boolean): ReturnType<typeof parseArgs> {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals })
  } catch (err) {
    throw new RingUsageError((err as Error).message)
  }
}

export function intFlag (name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new RingUsageError(`--${name} must be an integer in ${min}..${max}, got "${text}"`)
  return Number(text)
}

export function numberFlag (name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined
  const value = /^\d+(\.\d+)?([eE][-+]?\d+)?$|^\.\d+$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isFinite(value) || value < min) throw new RingUsageError(`--${name} must be a number >= ${min}, got "${text}"`)
  return value
}

export function overloadFlag (text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  if (text.endsWith('%')) return (numberFlag('overload', text.slice(0, -1), 0) as number) / 100
  return numberFlag('overload', text, 0)
}

export function str (v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}

export async function readInput (path: string, what: string): Promise<Uint8Array> {
  try {
    return await readFile(path)
  } catch (err) {
    throw new Error(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}

/** Fixed-point text for reports. */
export function fixed (n: number, digits = 2): string {
  return n.toFixed(digits)
}

/**
 * The rows of NAME.ring.gz next to NAME.builder, which a builder state (v3) needs:
 * it keeps its rows in its ring. Undefined when there is no such file.
 */
export async function siblingRingRows (builderPath: string): Promise<Uint16Array[] | undefined> {
  if (!builderPath.endsWith('.builder')) return undefined
  const ringPath = builderPath.slice(0, -'.builder'.length) + '.ring.gz'
  if (!existsSync(ringPath)) return undefined
  return decodeRingGz(await readInput(ringPath, 'ring file')).rows
}
