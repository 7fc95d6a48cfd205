// Shared plumbing for subcommands that talk to the running agent: the global
// --data-dir/--json/--help flags, strict parsing, and mapping failures to exit codes.
import type { ParseArgsConfig } from 'node:util'
import { ConfigError, resolveDataDir } from '../config.js'
import { dataDirPaths } from '../data-dir.js'
import { AgentCommandError, AgentNotRunningError, AgentTimeoutError } from '../socket/client.js'
import { EXIT, UsageError } from './exit-codes.js'
import type { Io } from './io.js'

export const CLIENT_OPTIONS = {
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
} as const satisfies NonNullable<ParseArgsConfig['options']>

export const CLIENT_OPTIONS_HELP = `  --data-dir DIR   the agent's data dir (env RINGLEADER_DATA_DIR, default ~/.ringleader)
  --json           machine-readable output
  -h, --help       this help`

/** Runs a util.parseArgs call, reporting its complaints as a UsageError. */
export function usageOnError<T> (parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

export function socketPathFor (dataDirFlag: string | undefined): { dataDir: string, socket: string } {
  const dataDir = resolveDataDir(dataDirFlag, process.env)
  return { dataDir, socket: dataDirPaths(dataDir).socket }
}

/** Runs `body`, turning known failures into a message and an exit code. */
export async function withExitCodes (name: string, io: Io, dataDirHint: () => string | undefined, body: () => Promise<number>): Promise<number> {
  try {
    return await body()
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      io.stderr(`agent ${name}: ${err.message}\nRun "agent ${name} --help" for usage.\n`)
      return EXIT.usage
    }
    if (err instanceof AgentNotRunningError) {
      const dir = dataDirHint() ?? '(unknown)'
      const stale = err.reason === 'ECONNREFUSED' ? ' (a socket file is there, but nothing answers: the last agent died)' : ''
      io.stderr(`agent ${name}: no agent is running with data dir ${dir}${stale}.\n` +
        `Tried ${err.socketPath}. Start one with:\n  agent start --data-dir ${dir}\n`)
      return EXIT.noAgent
    }
    if (err instanceof AgentCommandError || err instanceof AgentTimeoutError) {
      io.stderr(`agent ${name}: ${err.code}: ${err.message}\n`)
      return EXIT.agentError
    }
    io.stderr(`agent ${name}: ${(err as Error).message ?? String(err)}\n`)
    return EXIT.agentError
  }
}
