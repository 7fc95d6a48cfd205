// agent help [SUBCOMMAND]: the overview, or one subcommand's --help.
import { EXIT } from './exit-codes.js'
import type { Io, Subcommand } from './io.js'
import { formatTable } from './table.js'

export function overview (commands: Subcommand[]): string {
  return `Ringleader agent: gossiped cluster membership and swarm-distributed Swift rings.

Usage: agent <command> [options]    (agent <command> --help for details)

${formatTable(['command', 'what it does'], commands.map(c => [c.name, c.summary]))}
Client commands find the agent through --data-dir (env RINGLEADER_DATA_DIR,
default ~/.ringleader), accept --json, and exit 0 ok, 1 agent error, 2 usage
error, 3 no agent running.
`
}

export function helpCommand (all: () => Subcommand[]): Subcommand {
  const cmd: Subcommand = {
    name: 'help',
    summary: 'Show this overview, or help for one command',
    usage: 'Usage: agent help [COMMAND]\n',
    async run (argv: string[], io: Io): Promise<number> {
      if (argv.includes('--help') || argv.includes('-h')) { io.stdout(cmd.usage); return EXIT.ok }
      const name = argv.find(a => !a.startsWith('-'))
      if (name === undefined) { io.stdout(overview(all())); return EXIT.ok }
      const target = all().find(c => c.name === name)
      if (target === undefined) {
        io.stderr(`agent help: unknown command "${name}"\n${overview(all())}`)
        return EXIT.usage
      }
      if (target.name === 'ring') return await target.run(['--help'], io)
      io.stdout(target.usage)
      return EXIT.ok
    }
  }
  return cmd
}
