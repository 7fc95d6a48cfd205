// agent dev: start a local N-node cluster (see ../dev-cluster.ts).
import { parseArgs } from 'node:util'
import { usageOnError } from './client-command.js'
import { EXIT, UsageError } from './exit-codes.js'
import type { Io, Subcommand } from './io.js'
import { LOG_LEVELS } from '../log.js'

const USAGE = `Usage: agent dev [--nodes N] [--log-level LEVEL] [--keep]

Starts N agents (default 3, at most 64) as separate processes on 127.0.0.1,
each with its own data dir under a new temp folder, prints how to query each
one, and stops them all on Ctrl-C or SIGTERM.

  --nodes N          how many agents (default 3)
  --log-level LEVEL  debug|info|warn|error for every agent (default info)
  --keep             keep the data dirs after stopping
  -h, --help         this help
`

export const devCommand: Subcommand = {
  name: 'dev',
  summary: 'Start a local cluster of N agents on 127.0.0.1 until Ctrl-C',
  usage: USAGE,
  async run (argv: string[], io: Io): Promise<number> {
    let nodes = 3
    let logLevel = 'info'
    let keep = false
    try {
      const { values } = usageOnError(() => parseArgs({
        args: argv,
        options: { nodes: { type: 'string' }, 'log-level': { type: 'string' }, keep: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
        strict: true,
        allowPositionals: false
      }))
      if (values.help === true) { io.stdout(USAGE); return EXIT.ok }
      if (values.nodes !== undefined) {
        if (!/^\d+$/.test(values.nodes) || Number(values.nodes) < 1 || Number(values.nodes) > 64) throw new UsageError(`--nodes: expected an integer from 1 to 64, got ${JSON.stringify(values.nodes)}`)
        nodes = Number(values.nodes)
      }
      if (values['log-level'] !== undefined) {
        if (!(LOG_LEVELS as readonly string[]).includes(values['log-level'])) throw new UsageError(`--log-level: must be one of ${LOG_LEVELS.join('|')}`)
        logLevel = values['log-level']
      }
      keep = values.keep === true
    } catch (err) {
      if (err instanceof UsageError) {
        io.stderr(`agent dev: ${err.message}\nRun "agent dev --help" for usage.\n`)
        return EXIT.usage
      }
      throw err
    }
    const { runDevCluster } = await import('../dev-cluster.js')
    return await runDevCluster({ nodes, logLevel, keep, io })
  }
}
