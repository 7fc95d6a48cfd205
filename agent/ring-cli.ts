// `agent ring build|show|get-nodes`: offline ring tools, shaped like swift-ring-builder and
// swift-get-nodes. No daemon is involved. Exit codes: 0 ok; 2 the command line or the
// devices file is wrong (fix the input); 1 something else failed (a file is missing,
// unreadable or corrupt, or writing failed). `build` leaves --out untouched on any error.
import { RingBuildError } from '../ring/errors.js'
import { LookupError } from '../ring/lookup.js'
import { DevicesFileError } from './devices-file.js'
import { build, BUILD_USAGE } from './ring-cli-build.js'
import { getNodes, GET_NODES_USAGE, show, SHOW_USAGE } from './ring-cli-inspect.js'
import { ringSet, SET_USAGE } from './ring-cli-live.js'
import { ConfigError } from './config.js'
import { AgentNotRunningError } from './socket/client.js'
import { EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, RingUsageError, type RingCliDeps, type RingCliIo } from './ring-cli-args.js'

export type { RingCliDeps, RingCliIo } from './ring-cli-args.js'

const EXIT_NO_AGENT = 3

const USAGE = `Usage: agent ring <command> [options]

Swift ring tools:
  build       rebalance devices.json into NAME.ring.gz and NAME.builder (offline)
  show        parameters, devices, balance and dispersion of a ring.gz or .builder,
              or of the running agent's live ring NAME
  get-nodes   partition, primaries and handoffs of an account/container/object
  set         add or change a ring of the cluster map (through the running agent)

Run "agent ring <command> --help" for a command's options.
Exit codes: 0 ok, 1 runtime error (missing or corrupt file, write failed, refused by
the agent), 2 bad command line or devices file, 3 no agent running (live rings, set).
`

/** Exit code for an error: input the operator supplied (2) or a runtime failure (1). */
function exitCodeOf (err: unknown): number {
  if (err instanceof RingUsageError || err instanceof ConfigError) return EXIT_USAGE
  if (err instanceof AgentNotRunningError) return EXIT_NO_AGENT
  if (err instanceof DevicesFileError) return err.code === 'unreadable' ? EXIT_RUNTIME : EXIT_USAGE
  if (err instanceof RingBuildError) return err.code === 'bad-state' ? EXIT_RUNTIME : EXIT_USAGE
  if (err instanceof LookupError) return err.code === 'bad-path' ? EXIT_USAGE : EXIT_RUNTIME
  return EXIT_RUNTIME
}

export async function runRingCommand (args: string[], io: RingCliIo, deps: RingCliDeps = {}): Promise<number> {
  const [command, ...rest] = args
  const commands: Record<string, (a: string[], io: RingCliIo, deps: RingCliDeps) => Promise<number>> = { build, show, 'get-nodes': getNodes, set: ringSet }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io[command === undefined ? 'stderr' : 'stdout'](USAGE)
    return command === undefined ? EXIT_USAGE : EXIT_OK
  }
  const run = commands[command]
  if (run === undefined || !Object.hasOwn(commands, command)) {
    io.stderr(`agent ring: unknown command "${command}"\n\n${USAGE}`)
    return EXIT_USAGE
  }
  try {
    return await run(rest, io, deps)
  } catch (err) {
    const code = exitCodeOf(err)
    const usage = { build: BUILD_USAGE, show: SHOW_USAGE, 'get-nodes': GET_NODES_USAGE, set: SET_USAGE }[command as 'build']
    io.stderr(`agent ring ${command}: ${(err as Error).message}\n${err instanceof RingUsageError ? '\n' + usage : ''}`)
    return code
  }
}
