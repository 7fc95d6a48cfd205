// One socket write per send, not one per chunk.
//
// Noise hands the TCP connection every frame as two chunks (its 2-byte length, then
// the ciphertext), and @libp2p/tcp 11 writes a send chunk by chunk: each ping, ack
// and gossip copy cost two write syscalls, and on loopback each write runs the
// receiver's TCP input and may wake it. strace of an agent relaying gossip showed
// 436 of its 932 writes in six seconds carrying 2 bytes. Corking the socket around
// one send makes Node hand all its chunks to the kernel in one writev.
//
// The TCP transport is not changed: the upgrader it is given is wrapped, so every
// connection it makes (dialled or accepted) is adjusted before the upgrade starts
// sending. A connection without a corkable socket is left as it is.
import { tcp, type TCPOptions, type TCPComponents } from '@libp2p/tcp'
import type { MultiaddrConnection, Transport, Upgrader } from '@libp2p/interface'

interface CorkableSocket { cork: () => void, uncork: () => void }
interface SendResult { sentBytes: number, canSendMore: boolean }
/** The fields of @libp2p/tcp's connection class this relies on (sendData is protected there). */
interface TcpConnectionInternals {
  socket?: unknown
  sendData?: (data: { bufs?: unknown[] }) => SendResult
}

/** A Proxy get trap's default: the target's own property, methods bound to the target. */
function passThrough (target: object, prop: string | symbol, receiver: unknown): unknown {
  const value: unknown = Reflect.get(target, prop, receiver)
  return typeof value === 'function' ? value.bind(target) : value
}

function isCorkable (s: unknown): s is CorkableSocket {
  return typeof s === 'object' && s !== null &&
    typeof (s as Partial<CorkableSocket>).cork === 'function' && typeof (s as Partial<CorkableSocket>).uncork === 'function'
}

/**
 * Makes `maConn` write each multi-chunk send as one corked batch. Returns false,
 * changing nothing, when it is not a connection of the shape this knows.
 */
export function coalesceWrites (maConn: MultiaddrConnection): boolean {
  const conn = maConn as unknown as TcpConnectionInternals
  const socket = conn.socket
  const send = conn.sendData
  if (!isCorkable(socket) || typeof send !== 'function') return false
  conn.sendData = function (this: unknown, data) {
    if ((data.bufs?.length ?? 0) < 2) return send.call(this, data)
    socket.cork()
    try {
      return send.call(this, data)
    } finally {
      socket.uncork()
    }
  }
  return true
}

/** The upgrader with coalesceWrites applied to each connection before it is upgraded. */
export function withCoalescedWrites (upgrader: Upgrader): Upgrader {
  return new Proxy(upgrader, {
    get (target, prop, receiver) {
      if (prop === 'upgradeOutbound' || prop === 'upgradeInbound') {
        const upgrade = target[prop] as (maConn: MultiaddrConnection, opts: unknown) => Promise<unknown>
        return async (maConn: MultiaddrConnection, opts: unknown) => {
          coalesceWrites(maConn)
          return await upgrade.call(target, maConn, opts)
        }
      }
      return passThrough(target, prop, receiver)
    }
  })
}

/** @libp2p/tcp's transport whose connections write one send in one syscall. */
export function coalescingTcp (init?: TCPOptions): (components: TCPComponents) => Transport {
  const factory = tcp(init)
  return (components) => {
    const inner = factory(components)
    const withUpgrader = <T extends { upgrader: Upgrader }>(options: T): T => ({ ...options, upgrader: withCoalescedWrites(options.upgrader) })
    return new Proxy(inner, {
      get (target, prop, receiver) {
        if (prop === 'dial') return async (ma: Parameters<Transport['dial']>[0], options: Parameters<Transport['dial']>[1]) => await target.dial(ma, withUpgrader(options))
        if (prop === 'createListener') return (options: Parameters<Transport['createListener']>[0]) => target.createListener(withUpgrader(options))
        return passThrough(target, prop, receiver)
      }
    })
  }
}
