// Runs the operator's on-change hook (e.g. a Swift reload) via /bin/sh -c, in its own
// process group so a timeout kills everything it started. Never throws: the outcome,
// a bounded tail of its output and its duration come back as a HookResult. Spawning
// is asynchronous, so a slow hook never blocks the caller's event loop.
import { spawn } from 'node:child_process'

export interface HookEnv {
  RINGLEADER_EPOCH: string
  RINGLEADER_RING_DIR: string
  /** Comma-separated names of every ring installed at this epoch. */
  RINGLEADER_RINGS: string
  [extra: string]: string
}

export interface HookResult {
  /** Exited with code 0 within the time limit. */
  ok: boolean
  code: number | null
  signal: NodeJS.Signals | null
  timedOut: boolean
  ms: number
  /** The last `maxOutputBytes` of stdout and stderr, interleaved as they arrived. */
  output: string
  /** Set when the hook could not be run at all (bad arguments, spawn failure). */
  error?: string
}

export interface HookOptions {
  /** Default 16 KiB. */
  maxOutputBytes?: number
  /** After SIGTERM to the group on timeout, wait this long before SIGKILL. Default 1000 ms. */
  killGraceMs?: number
  cwd?: string
}

/** How long to keep reading pipes after the shell exits (a background child may hold them). */
const PIPE_DRAIN_MS = 200

class OutputTail {
  private chunks: Buffer[] = []
  private bytes = 0
  constructor (private readonly limit: number) {}
  push (chunk: Buffer): void {
    this.chunks.push(chunk)
    this.bytes += chunk.length
    while (this.bytes - this.chunks[0].length >= this.limit) this.bytes -= (this.chunks.shift() as Buffer).length
  }

  text (): string {
    const all = Buffer.concat(this.chunks)
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8')
  }
}

function killGroup (pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // the group is already gone
  }
}

export async function runHook (cmd: string, env: HookEnv, timeoutMs: number, opts: HookOptions = {}): Promise<HookResult> {
  const started = performance.now()
  const failed = (error: string): HookResult => ({ ok: false, code: null, signal: null, timedOut: false, ms: performance.now() - started, output: '', error })
  if (typeof cmd !== 'string' || cmd.trim() === '') return failed('hook command is empty')
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) return failed(`bad hook timeout ${timeoutMs}`)
  const tail = new OutputTail(opts.maxOutputBytes ?? 16 * 1024)
  const grace = opts.killGraceMs ?? 1000

  return await new Promise<HookResult>((resolve) => {
    let child
    try {
      child = spawn('/bin/sh', ['-c', cmd], { env: { ...process.env, ...env }, cwd: opts.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (err) {
      resolve(failed(`cannot start hook: ${(err as Error).message}`))
      return
    }
    let timedOut = false
    let settled = false
    let killTimer: NodeJS.Timeout | undefined
    const timer = setTimeout(() => {
      timedOut = true
      if (child.pid !== undefined) {
        killGroup(child.pid, 'SIGTERM')
        killTimer = setTimeout(() => { if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL') }, grace)
        killTimer.unref()
      }
    }, timeoutMs)
    const finish = (result: HookResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (killTimer !== undefined) clearTimeout(killTimer)
      child.stdout?.destroy()
      child.stderr?.destroy()
      resolve(result)
    }
    child.stdout?.on('data', (c: Buffer) => tail.push(c))
    child.stderr?.on('data', (c: Buffer) => tail.push(c))
    child.on('error', (err) => {
      finish({ ok: false, code: null, signal: null, timedOut, ms: performance.now() - started, output: tail.text(), error: `cannot run hook: ${err.message}` })
    })
    let exit: { code: number | null, signal: NodeJS.Signals | null, ms: number } | undefined
    const done = (): void => {
      if (exit === undefined) return
      finish({ ok: !timedOut && exit.code === 0, code: exit.code, signal: exit.signal, timedOut, ms: exit.ms, output: tail.text() })
    }
    child.on('exit', (code, signal) => {
      exit = { code, signal, ms: performance.now() - started }
      // After a timeout, make sure nothing of the group survives the shell.
      if (timedOut && child.pid !== undefined) killGroup(child.pid, 'SIGKILL')
      setTimeout(done, PIPE_DRAIN_MS)
    })
    // 'close' comes once the pipes are drained too: the normal way to finish.
    child.on('close', done)
  })
}
