// Yamux window updates only when half the receive window is used, as go-yamux and
// the yamux spec's reference implementation do.
//
// @chainsafe/libp2p-yamux 8.0.1 answers every data frame with a WindowUpdate frame
// as soon as any of the window is used. For membership's traffic (pings, acks and
// gossip of a few hundred bytes each) that doubles the frames on the wire: each
// update is one more noise encryption, socket write and wake-up of the peer. In
// a CPU profile of a seed during a mass join, writing window updates cost 2.6 s
// against 3.9 s for all the data. Crediting the sender once half the window is
// consumed keeps flow control intact (the sender always has at least half a window
// to send before it waits for credit), and bulk transfers still grow their window:
// the library doubles it when updates come within four round trips.
import { YamuxStream } from '@chainsafe/libp2p-yamux/stream'

/** The private stream fields the rule reads (yamux 8.0.x). */
interface StreamWindow {
  state: number
  recvWindow: number
  recvWindowCapacity: number
}

// StreamState of yamux 8: Init = 0 and SYNReceived = 2 still owe the peer a SYN or
// ACK flag, which rides on a window update; Paused = 5 is handled by the library.
const SYN_SENT = 1
const ESTABLISHED = 3
const FINISHED = 4

/** Whether a window update may wait: no flag to send and less than half the window used. */
export function windowUpdateCanWait (s: StreamWindow): boolean {
  if (s.state !== SYN_SENT && s.state !== ESTABLISHED && s.state !== FINISHED) return false
  return s.recvWindow - s.recvWindowCapacity < s.recvWindow / 2
}

const INSTALLED = Symbol.for('ringleader.yamux-lazy-window')

/**
 * Patches YamuxStream once per process. Returns false (and changes nothing) when the
 * library no longer has the method this relies on, so an upgrade degrades to the
 * library's own behaviour rather than breaking streams.
 */
export function installLazyWindowUpdates (): boolean {
  const proto = YamuxStream.prototype as unknown as Record<string | symbol, unknown>
  if (proto[INSTALLED] === true) return true
  const original = proto.sendWindowUpdate
  if (typeof original !== 'function') return false
  proto.sendWindowUpdate = function (this: StreamWindow): void {
    if (typeof this.recvWindow === 'number' && typeof this.recvWindowCapacity === 'number' && windowUpdateCanWait(this)) return
    ;(original as (this: StreamWindow) => void).call(this)
  }
  proto[INSTALLED] = true
  return true
}
