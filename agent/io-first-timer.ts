// A timer whose callback runs only after the I/O that became ready meanwhile.
//
// Node's event loop runs expired timers before it polls sockets. When a process is
// starved of CPU (50 agents on two cores, a GC pause, a stopped VM), a probe's
// deadline and the ack that beat it both wait for the next loop turn, and the
// timer, judged first, calls a prompt peer silent. Bouncing the callback through
// setImmediate (the check phase, after the poll phase) lets the pending acks be
// read, and their promise chains settle, before any deadline is judged.

export interface IoFirstTimer {
  cancel: () => void
}

export function setTimeoutAfterIo (fn: () => void, ms: number): IoFirstTimer {
  let immediate: NodeJS.Immediate | undefined
  const timeout = setTimeout(() => { immediate = setImmediate(fn) }, ms)
  timeout.unref()
  return {
    cancel: () => {
      clearTimeout(timeout)
      if (immediate !== undefined) clearImmediate(immediate)
    }
  }
}
