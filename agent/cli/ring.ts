// agent ring …: offline ring tools, implemented in ../ring-cli.ts.
import { EXIT } from './exit-codes.js'
import type { Io, Subcommand } from './io.js'

export const ringCommand: Subcommand = {
  name: 'ring',
  summary: 'Build and inspect Swift rings (ring build|show|get-nodes)',
  usage: 'Usage: agent ring <build|show|get-nodes> …   (agent ring --help)\n',
  async run (argv: string[], io: Io): Promise<number> {
    let mod: { runRingCommand: (args: string[], io: Io) => Promise<number> }
    try {
      mod = await import('../ring-cli.js')
    } catch (err) {
      io.stderr(`agent ring: ring commands are not available in this build (${(err as Error).message})\n`)
      return EXIT.agentError
    }
    return await mod.runRingCommand(argv, io)
  }
}
