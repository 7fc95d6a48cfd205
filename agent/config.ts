// The daemon's resolved configuration. Each field comes from, in order of
// precedence: a command-line flag, an environment variable RINGLEADER_*, the
// JSON config file (--config FILE or RINGLEADER_CONFIG), then a default. Every
// value is validated where it is read, so an error names the exact flag, variable
// or file key that was wrong.
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, isAbsolute, resolve } from 'node:path'
import { isIP } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { DEVICE_NAME, MAX_WEIGHT } from '../protocol/node-meta.js'
import { NEW_RING_DEFAULTS, validateRingDefinition } from '../protocol/map/ring-definition.js'
import type { RingDefinition } from '../protocol/map/plan.js'
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './log.js'
import { parseJoinAddress } from './net/join-address.js'

export interface DeviceSpec { name: string, weight: number }

export interface AgentConfig {
  dataDir: string
  listen: string[]
  logLevel: LogLevel
  logFormat: LogFormat
  /** Peers to join (multiaddrs, host:port); retried with backoff until one answers. */
  join: string[]
  /** Where installed *.ring.gz files go (default <dataDir>/rings). */
  ringDir: string | undefined
  /** Command run (by /bin/sh) after each installed epoch. */
  onChange: string | undefined
  /** The hook is killed after this many seconds. */
  hookTimeoutS: number
  region: number | undefined
  zone: number | undefined
  storageIp: string | undefined
  storagePort: number | undefined
  devices: DeviceSpec[]
  /** Initialise a new cluster (epoch 1) unless one is already seen. */
  bootstrap: boolean
  /** Ring definitions for --bootstrap (default account, container and object). */
  rings: RingDefinition[]
  /** Devices of a dead member stay in the rings this long (seconds). */
  removeDeadAfterS: number
  /** Epochs whose blobs the blob store keeps. */
  keepEpochs: number
  /** Quiet window before the coordinator rebalances (ms). */
  rebalanceDelayMs: number
  /** Cap on blob upload bandwidth, Mbit/s (undefined: no cap). */
  uploadLimitMbit: number | undefined
  /** Peers served blobs at once. */
  uploadSlots: number
  /** Fetch blobs from any holder (swarm) or only from the coordinator (a star, for comparisons). */
  fetchFrom: 'swarm' | 'coordinator'
  /** SWIM probe period T in ms (undefined: the membership default, 200); the direct-ack timeout is T/2. */
  probeIntervalMs: number | undefined
  /** Members each node probes (its successors on a hashed ring); 0 probes everyone. Undefined: the default, 8. */
  probeObservers: number | undefined
  /** Probe over signed UDP datagrams on the TCP listen port's number (off: over libp2p connections only). */
  probeUdp: boolean
  /** The config file that was read, if any. */
  configFile: string | undefined
}

export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG'
  constructor (readonly field: string, message: string) {
    super(`${field}: ${message}`)
    this.name = 'ConfigError'
  }
}

export const DEFAULT_LISTEN = '/ip4/0.0.0.0/tcp/7950'
export const DEFAULT_DEVICE_WEIGHT = 100

/** Flag values as `util.parseArgs` returns them, keyed by flag name. */
export type FlagValues = Record<string, string | boolean | Array<string | boolean> | undefined>

type Kind = 'path' | 'listen' | 'join' | 'level' | 'format' | 'command' | 'region' | 'zone' | 'ip' | 'port' | 'devices' | 'bool' |
  'ring' | 'hook-timeout' | 'dead-after' | 'keep-epochs' | 'rebalance-delay' | 'mbit' | 'slots' | 'fetch-from' | 'probe-interval' | 'probe-observers'

interface FieldSpec { key: keyof AgentConfig, flag: string, kind: Kind, repeatable: boolean }

const FIELDS: FieldSpec[] = [
  { key: 'dataDir', flag: 'data-dir', kind: 'path', repeatable: false },
  { key: 'listen', flag: 'listen', kind: 'listen', repeatable: true },
  { key: 'logLevel', flag: 'log-level', kind: 'level', repeatable: false },
  { key: 'logFormat', flag: 'log-format', kind: 'format', repeatable: false },
  { key: 'join', flag: 'join', kind: 'join', repeatable: true },
  { key: 'ringDir', flag: 'ring-dir', kind: 'path', repeatable: false },
  { key: 'onChange', flag: 'on-change', kind: 'command', repeatable: false },
  { key: 'region', flag: 'region', kind: 'region', repeatable: false },
  { key: 'zone', flag: 'zone', kind: 'zone', repeatable: false },
  { key: 'storageIp', flag: 'storage-ip', kind: 'ip', repeatable: false },
  { key: 'storagePort', flag: 'storage-port', kind: 'port', repeatable: false },
  { key: 'devices', flag: 'device', kind: 'devices', repeatable: true },
  { key: 'bootstrap', flag: 'bootstrap', kind: 'bool', repeatable: false },
  { key: 'rings', flag: 'ring', kind: 'ring', repeatable: true },
  { key: 'hookTimeoutS', flag: 'hook-timeout', kind: 'hook-timeout', repeatable: false },
  { key: 'removeDeadAfterS', flag: 'remove-dead-after', kind: 'dead-after', repeatable: false },
  { key: 'keepEpochs', flag: 'keep-epochs', kind: 'keep-epochs', repeatable: false },
  { key: 'rebalanceDelayMs', flag: 'rebalance-delay', kind: 'rebalance-delay', repeatable: false },
  { key: 'uploadLimitMbit', flag: 'upload-limit', kind: 'mbit', repeatable: false },
  { key: 'uploadSlots', flag: 'upload-slots', kind: 'slots', repeatable: false },
  { key: 'fetchFrom', flag: 'fetch-from', kind: 'fetch-from', repeatable: false },
  { key: 'probeIntervalMs', flag: 'probe-interval', kind: 'probe-interval', repeatable: false },
  { key: 'probeObservers', flag: 'probe-observers', kind: 'probe-observers', repeatable: false },
  { key: 'probeUdp', flag: 'probe-udp', kind: 'bool', repeatable: false }
]

/** The rings a bootstrap makes unless --ring says otherwise (swift-ring-builder create 10 3 1). */
export const DEFAULT_RINGS: readonly RingDefinition[] = ['account', 'container', 'object'].map(name => ({ name, partPower: 10, replicas: 3, ...NEW_RING_DEFAULTS }))

/**
 * RINGLEADER_DATA_DIR, RINGLEADER_STORAGE_PORT, … (list values comma-separated).
 * --ring reads RINGLEADER_BOOTSTRAP_RINGS: the hook's environment has RINGLEADER_RINGS.
 */
export function envName (flag: string): string {
  if (flag === 'ring') return 'RINGLEADER_BOOTSTRAP_RINGS'
  return 'RINGLEADER_' + flag.replace(/-/g, '_').toUpperCase().replace(/^DEVICE$/, 'DEVICES')
}

function expandPath (text: string, base: string): string {
  if (text === '~') return homedir()
  if (text.startsWith('~/')) return resolve(homedir(), text.slice(2))
  return isAbsolute(text) ? resolve(text) : resolve(base, text)
}

function parseInteger (field: string, text: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(text.trim())) throw new ConfigError(field, `expected an integer, got ${JSON.stringify(text)}`)
  const n = Number(text)
  if (n < min || n > max) throw new ConfigError(field, `must be between ${min} and ${max}, got ${n}`)
  return n
}

function checkMultiaddr (field: string, text: string): string {
  try {
    return multiaddr(text).toString()
  } catch (err) {
    throw new ConfigError(field, `not a valid multiaddr ${JSON.stringify(text)} (${(err as Error).message})`)
  }
}

/** NAME:PART_POWER:REPLICAS[:MIN_PART_HOURS[:OVERLOAD]], or the same as a JSON object. */
export function parseRing (field: string, value: unknown): RingDefinition {
  let def: Record<string, unknown>
  if (typeof value === 'string') {
    const parts = value.split(':')
    if (parts.length < 3 || parts.length > 5) throw new ConfigError(field, `expected NAME:PART_POWER:REPLICAS[:MIN_PART_HOURS[:OVERLOAD]], got ${JSON.stringify(value)}`)
    const num = (s: string | undefined, fallback: number): number => s === undefined ? fallback : (s.trim() === '' ? Number.NaN : Number(s))
    def = { name: parts[0], partPower: num(parts[1], 0), replicas: num(parts[2], 0), minPartHours: num(parts[3], NEW_RING_DEFAULTS.minPartHours), overload: num(parts[4], NEW_RING_DEFAULTS.overload) }
  } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    def = { ...NEW_RING_DEFAULTS, ...(value as Record<string, unknown>) }
  } else {
    throw new ConfigError(field, 'expected NAME:PART_POWER:REPLICAS[:MIN_PART_HOURS[:OVERLOAD]] or an object')
  }
  try {
    return validateRingDefinition(def)
  } catch (err) {
    throw new ConfigError(field, (err as Error).message)
  }
}

function parseDevice (field: string, value: unknown): DeviceSpec {
  let name: unknown
  let weight: unknown = DEFAULT_DEVICE_WEIGHT
  if (typeof value === 'string') {
    const colon = value.lastIndexOf(':')
    name = colon === -1 ? value : value.slice(0, colon)
    if (colon !== -1) {
      const w = value.slice(colon + 1)
      weight = w.trim() === '' ? Number.NaN : Number(w)
    }
  } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>
    name = obj.name
    if (obj.weight !== undefined) weight = obj.weight
  } else {
    throw new ConfigError(field, 'expected NAME[:WEIGHT] or {"name", "weight"}')
  }
  if (typeof name !== 'string' || !DEVICE_NAME.test(name)) {
    throw new ConfigError(field, `bad device name ${JSON.stringify(name)} (letters, digits, . _ -; at most 32)`)
  }
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0 || weight > MAX_WEIGHT) {
    throw new ConfigError(field, `bad weight for device ${name}: must be a number in [0, ${MAX_WEIGHT}]`)
  }
  return { name, weight }
}

// Converts one scalar (from a flag, an env list item or a file) to its typed value.
function parseScalar (spec: FieldSpec, field: string, value: unknown, base: string): unknown {
  if (spec.kind === 'devices') return parseDevice(field, value)
  if (spec.kind === 'ring') return parseRing(field, value)
  if (spec.kind === 'bool') {
    if (typeof value === 'boolean') return value
    if (typeof value === 'string' && /^(1|true|yes|on)$/i.test(value)) return true
    if (typeof value === 'string' && /^(0|false|no|off)$/i.test(value)) return false
    throw new ConfigError(field, 'expected true or false')
  }
  if (typeof value === 'number' && ['region', 'zone', 'port', 'hook-timeout', 'dead-after', 'keep-epochs', 'rebalance-delay', 'mbit', 'slots', 'probe-interval', 'probe-observers'].includes(spec.kind)) {
    value = String(value)
  }
  if (typeof value !== 'string') throw new ConfigError(field, `expected a string, got ${JSON.stringify(value)}`)
  switch (spec.kind) {
    case 'path':
      if (value === '') throw new ConfigError(field, 'must not be empty')
      return expandPath(value, base)
    case 'listen': {
      const addr = checkMultiaddr(field, value)
      if (!/\/tcp\/\d+/.test(addr) && !addr.startsWith('/memory/')) {
        throw new ConfigError(field, `${addr} has no /tcp/PORT (or /memory/NAME) part`)
      }
      return addr
    }
    case 'join':
      try {
        parseJoinAddress(value)
      } catch (err) {
        throw new ConfigError(field, (err as Error).message)
      }
      return value
    case 'level':
      if (!(LOG_LEVELS as readonly string[]).includes(value)) throw new ConfigError(field, `must be one of ${LOG_LEVELS.join('|')}, got ${JSON.stringify(value)}`)
      return value
    case 'format':
      if (!(LOG_FORMATS as readonly string[]).includes(value)) throw new ConfigError(field, `must be one of ${LOG_FORMATS.join('|')}, got ${JSON.stringify(value)}`)
      return value
    case 'command':
      if (value.trim() === '') throw new ConfigError(field, 'must not be empty')
      return value
    case 'region':
    case 'zone':
      return parseInteger(field, value, 0, 65535)
    case 'port':
      return parseInteger(field, value, 1, 65535)
    case 'ip':
      if (isIP(value) === 0) throw new ConfigError(field, `not an IPv4 or IPv6 address: ${JSON.stringify(value)}`)
      return value
    case 'hook-timeout':
      return parseInteger(field, value, 1, 86_400)
    case 'dead-after':
      return parseInteger(field, value, 0, 365 * 86_400)
    case 'keep-epochs':
      return parseInteger(field, value, 1, 1000)
    case 'rebalance-delay':
      return parseInteger(field, value, 0, 600_000)
    case 'mbit': {
      const n = value.trim() === '' ? Number.NaN : Number(value)
      if (!Number.isFinite(n) || n <= 0 || n > 1_000_000) throw new ConfigError(field, `expected Mbit/s in (0, 1000000], got ${JSON.stringify(value)}`)
      return n
    }
    case 'slots':
      return parseInteger(field, value, 1, 1024)
    case 'probe-interval':
      return parseInteger(field, value, 20, 60_000)
    case 'probe-observers':
      return parseInteger(field, value, 0, 1024)
    case 'fetch-from':
      if (value !== 'swarm' && value !== 'coordinator') throw new ConfigError(field, `must be swarm or coordinator, got ${JSON.stringify(value)}`)
      return value
  }
  throw new ConfigError(field, 'unsupported setting')
}

function parseValues (spec: FieldSpec, field: string, values: unknown[], base: string): unknown {
  const parsed = values.map(v => parseScalar(spec, field, v, base))
  if (!spec.repeatable) return parsed[parsed.length - 1]
  if (spec.kind === 'devices' || spec.kind === 'ring') {
    const seen = new Set<string>()
    for (const d of parsed as Array<{ name: string }>) {
      if (seen.has(d.name)) throw new ConfigError(field, `${spec.kind === 'ring' ? 'ring' : 'device'} ${d.name} is given twice`)
      seen.add(d.name)
    }
  }
  return parsed
}

export interface ConfigSources {
  flags: FlagValues
  env: NodeJS.ProcessEnv
  /** Base for relative paths in flags and env (default process.cwd()). */
  cwd?: string
}

function readConfigFile (path: string, field: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(field, `cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(field, `config file ${path} is not valid JSON: ${(err as Error).message}`)
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ConfigError(field, `config file ${path} must hold a JSON object`)
  }
  const known = new Set<string>(FIELDS.map(f => f.key))
  for (const key of Object.keys(data)) {
    if (!known.has(key)) throw new ConfigError(`${key} (in ${path})`, `unknown setting; known: ${[...known].join(', ')}`)
  }
  return data as Record<string, unknown>
}

export function resolveConfig (sources: ConfigSources): AgentConfig {
  const cwd = sources.cwd ?? process.cwd()
  const { flags, env } = sources

  let configFile: string | undefined
  let file: Record<string, unknown> = {}
  const flagConfig = flags.config
  if (typeof flagConfig === 'string') configFile = expandPath(flagConfig, cwd)
  else if (env.RINGLEADER_CONFIG !== undefined && env.RINGLEADER_CONFIG !== '') configFile = expandPath(env.RINGLEADER_CONFIG, cwd)
  if (configFile !== undefined) {
    file = readConfigFile(configFile, typeof flagConfig === 'string' ? '--config' : 'RINGLEADER_CONFIG')
  }

  const out: Record<string, unknown> = {
    dataDir: resolve(homedir(), '.ringleader'),
    listen: [DEFAULT_LISTEN],
    logLevel: 'info',
    logFormat: 'json',
    join: [],
    ringDir: undefined,
    onChange: undefined,
    region: undefined,
    zone: undefined,
    storageIp: undefined,
    storagePort: undefined,
    devices: [],
    bootstrap: false,
    rings: DEFAULT_RINGS.map(r => ({ ...r })),
    hookTimeoutS: 60,
    removeDeadAfterS: 600,
    keepEpochs: 3,
    rebalanceDelayMs: 500,
    uploadLimitMbit: undefined,
    uploadSlots: 2,
    fetchFrom: 'swarm',
    probeIntervalMs: undefined,
    probeObservers: undefined,
    probeUdp: true,
    configFile
  }

  for (const spec of FIELDS) {
    const flagValue = flags[spec.flag]
    const envValue = env[envName(spec.flag)]
    const fileValue = file[spec.key]
    if (flagValue !== undefined) {
      const values = Array.isArray(flagValue) ? flagValue : [flagValue]
      out[spec.key] = parseValues(spec, `--${spec.flag}`, values, cwd)
    } else if (envValue !== undefined && envValue !== '') {
      const values = spec.repeatable ? envValue.split(',').map(s => s.trim()).filter(s => s !== '') : [envValue]
      out[spec.key] = parseValues(spec, envName(spec.flag), values, cwd)
    } else if (fileValue !== undefined && configFile !== undefined) {
      const field = `${spec.key} (in ${configFile})`
      if (spec.repeatable && !Array.isArray(fileValue)) throw new ConfigError(field, 'expected an array')
      if (!spec.repeatable && Array.isArray(fileValue)) throw new ConfigError(field, 'expected a single value, not an array')
      const values = Array.isArray(fileValue) ? fileValue as unknown[] : [fileValue]
      out[spec.key] = parseValues(spec, field, values, dirname(configFile))
    }
  }
  return out as unknown as AgentConfig
}

/** Resolves only the data directory (client commands: flag > env > default). */
export function resolveDataDir (flag: string | undefined, env: NodeJS.ProcessEnv, cwd = process.cwd()): string {
  const spec = FIELDS[0]
  if (flag !== undefined) return parseScalar(spec, '--data-dir', flag, cwd) as string
  const fromEnv = env.RINGLEADER_DATA_DIR
  if (fromEnv !== undefined && fromEnv !== '') return parseScalar(spec, 'RINGLEADER_DATA_DIR', fromEnv, cwd) as string
  return resolve(homedir(), '.ringleader')
}
