// Child processes a benchmark must not leave behind. A benchmark stopped with Ctrl-C
// or kill used to leave its two core-loading busy loops running (and its agents):
// every measurement after it, on the same box, then ran on loaded cores without
// saying so. Tracked children are killed when the benchmark exits or is signalled,
// and the busy loops also end on their own once their parent is gone (kill -9).
import { spawn, type ChildProcess } from 'node:child_process'

const tracked = new Set<ChildProcess>()
let installed = false

function killAll (): void {
  for (const c of tracked) { try { c.kill('SIGKILL') } catch { /* already gone */ } }
  tracked.clear()
}

/** Kills `child` with the benchmark if it is still running then. */
export function track<T extends ChildProcess> (child: T): T {
  tracked.add(child)
  child.once('exit', () => { tracked.delete(child) })
  if (!installed) {
    installed = true
    process.once('exit', killAll)
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => { killAll(); process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1)) })
    }
  }
  return child
}

/**
 * A process that keeps one core busy until killed, or until its parent is gone: it
 * checks its parent id every ~2^26 iterations (a fraction of a second). The parent
 * is named in the code, not read at start: a parent killed before the child ran
 * would otherwise be taken for init.
 */
export function spawnBusyLoop (): ChildProcess {
  const code = `for (let i = 0; ; i++) if ((i & 0x3ffffff) === 0 && process.ppid !== ${process.pid}) process.exit(0)`
  return track(spawn(process.execPath, ['-e', code], { stdio: 'ignore' }))
}
