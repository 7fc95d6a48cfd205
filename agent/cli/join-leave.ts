// agent join / leave / force-leave: change this node's place in the cluster
// through the running agent's socket.
import { parseArgs } from 'node:util'
import { callAgent } from '../socket/client.js'
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, socketPathFor, usageOnError, withExitCodes } from './client-command.js'
import { EXIT, UsageError } from './exit-codes.js'
import type { Io, Subcommand } from './io.js'

export const joinCommand: Subcommand = {
  name: 'join',
  summary: 'Join the cluster through one or more peers',
  usage: `Usage: agent join PEER... [--data-dir DIR] [--json]

Asks the running agent to join through each PEER (a multiaddr with or without
/p2p/<id>, host:port, [v6]:port or a bare address with the default port 7950).
Returns once a full state exchange with at least one of them has completed;
exit 1 with the reasons when none answered. A busy seed is dialled again for up
to 35 s and then given 20 s to answer; an address where nothing listens fails
after three attempts.

${CLIENT_OPTIONS_HELP}
`,
  async run (argv: string[], io: Io): Promise<number> {
    let dataDir: string | undefined
    return await withExitCodes('join', io, () => dataDir, async () => {
      const { values, positionals } = usageOnError(() => parseArgs({ args: argv, options: CLIENT_OPTIONS, strict: true, allowPositionals: true }))
      if (values.help === true) { io.stdout(joinCommand.usage); return EXIT.ok }
      if (positionals.length === 0) throw new UsageError('give at least one PEER to join through')
      const target = socketPathFor(values['data-dir'])
      dataDir = target.dataDir
      const result = await callAgent(target.socket, 'join', { addrs: positionals }, { timeoutMs: 60_000 }) as { joined: string[], errors: Array<{ addr: string, code: string, message: string }> }
      if (values.json === true) io.stdout(JSON.stringify(result, null, 2) + '\n')
      else {
        io.stdout(`Joined through ${result.joined.length} of ${positionals.length}: ${result.joined.join(', ')}\n`)
        for (const e of result.errors) io.stderr(`  ${e.addr}: ${e.code}: ${e.message}\n`)
      }
      return EXIT.ok
    })
  }
}

export const leaveCommand: Subcommand = {
  name: 'leave',
  summary: 'Leave the cluster gracefully, then stop the agent',
  usage: `Usage: agent leave [--data-dir DIR] [--json]

Publishes "left" for this node, waits briefly (at most ~2 s) for it to spread,
then stops the agent (it exits 0). Other members list it as left; it does not
count as a failure.

${CLIENT_OPTIONS_HELP}
`,
  async run (argv: string[], io: Io): Promise<number> {
    let dataDir: string | undefined
    return await withExitCodes('leave', io, () => dataDir, async () => {
      const { values } = usageOnError(() => parseArgs({ args: argv, options: CLIENT_OPTIONS, strict: true, allowPositionals: false }))
      if (values.help === true) { io.stdout(leaveCommand.usage); return EXIT.ok }
      const target = socketPathFor(values['data-dir'])
      dataDir = target.dataDir
      const result = await callAgent(target.socket, 'leave', {}, { timeoutMs: 15_000 }) as { incarnation: number, spreadTo: number }
      io.stdout(values.json === true ? JSON.stringify(result) + '\n' : `Left the cluster (incarnation ${result.incarnation}); the agent is stopping.\n`)
      return EXIT.ok
    })
  }
}

export const forceLeaveCommand: Subcommand = {
  name: 'force-leave',
  summary: 'Retire a dead member (mark it left); refused for live members',
  usage: `Usage: agent force-leave ID [--data-dir DIR] [--json]

Marks the dead member ID as left, cluster-wide: use it for a node that will never
return. Refused (exit 1) when ID is alive or suspect, or unknown.

${CLIENT_OPTIONS_HELP}
`,
  async run (argv: string[], io: Io): Promise<number> {
    let dataDir: string | undefined
    return await withExitCodes('force-leave', io, () => dataDir, async () => {
      const { values, positionals } = usageOnError(() => parseArgs({ args: argv, options: CLIENT_OPTIONS, strict: true, allowPositionals: true }))
      if (values.help === true) { io.stdout(forceLeaveCommand.usage); return EXIT.ok }
      if (positionals.length !== 1) throw new UsageError('give exactly one member ID')
      const target = socketPathFor(values['data-dir'])
      dataDir = target.dataDir
      const result = await callAgent(target.socket, 'force-leave', { id: positionals[0] }) as { id: string, status: string, incarnation: number }
      io.stdout(values.json === true ? JSON.stringify(result) + '\n' : `${result.id} is now ${result.status}.\n`)
      return EXIT.ok
    })
  }
}
