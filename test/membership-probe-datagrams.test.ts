// Which probe messages go as datagrams and where (agent/membership/probe-datagrams.ts),
// and where the agent binds and what it advertises.
import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { advertisedUdpAddrs, datagramBinds, datagramRole, datagramsSilent, datagramTarget, dialableAddrs, udpEndpoints } from '../agent/membership/probe-datagrams.js'
import type { DatagramChannel, DatagramEndpoint } from '../agent/net/datagram-channel.js'

const P2P = '/p2p/12D3KooWAVZQcJySu9iQm2GAfDcTP78AGHF56pWJHUg6zw6Jqjuk'

test('roles: ping and ping-req are requests, ack and nack answers, updates and push-pulls never datagrams', () => {
  assert.is(datagramRole({ type: 'ping', seq: 1 }), 'request')
  assert.is(datagramRole({ type: 'ping-req', seq: 1, target: 'x', targetAddrs: [] }), 'request')
  assert.is(datagramRole({ type: 'ack', seq: 1 }), 'answer')
  assert.is(datagramRole({ type: 'nack', seq: 1 }), 'answer')
  assert.is(datagramRole({ type: 'suspect', id: 'x', incarnation: 1, from: 'y' }), undefined)
  assert.is(datagramRole({ type: 'push-pull', seq: 1, join: false, reply: false, entries: [] }), undefined)
})

test('addresses: UDP ones are found in order and kept away from libp2p; bad ports are skipped', () => {
  const addrs = [`/ip4/10.0.0.5/tcp/7950${P2P}`, '/ip4/10.0.0.5/udp/7950', '/ip6/::1/udp/7951', '/ip4/1.2.3.4/udp/0', '/ip4/1.2.3.4/udp/70000', '/dns4/x/udp/1']
  assert.equal(udpEndpoints(addrs), [{ host: '10.0.0.5', port: 7950 }, { host: '::1', port: 7951 }])
  assert.equal(dialableAddrs(addrs), [`/ip4/10.0.0.5/tcp/7950${P2P}`, '/dns4/x/udp/1'])
})

test('advertised: the TCP hosts on the socket\'s port, per family; a socket bound to one address advertises only it', () => {
  const tcp = [`/ip4/10.0.0.5/tcp/7950${P2P}`, `/ip4/127.0.0.1/tcp/7950${P2P}`, `/ip6/::1/tcp/7950${P2P}`]
  assert.equal(advertisedUdpAddrs(tcp, [{ host: '0.0.0.0', port: 7950 }]), ['/ip4/10.0.0.5/udp/7950', '/ip4/127.0.0.1/udp/7950'])
  assert.equal(advertisedUdpAddrs(tcp, [{ host: '127.0.0.1', port: 4000 }, { host: '::', port: 4001 }]), ['/ip4/127.0.0.1/udp/4000', '/ip6/::1/udp/4001'])
  assert.equal(advertisedUdpAddrs(tcp, []), [])
})

test('binds: the first listen host per family, on the port TCP got', () => {
  assert.equal(datagramBinds(['/ip4/0.0.0.0/tcp/0'], [`/ip4/10.0.0.5/tcp/41234${P2P}`, `/ip4/127.0.0.1/tcp/41234${P2P}`]), [{ host: '0.0.0.0', port: 41234 }])
  assert.equal(datagramBinds(['/ip4/127.0.0.1/tcp/7950', '/ip6/::1/tcp/7950'], ['/ip4/127.0.0.1/tcp/7950', '/ip6/::1/tcp/7950']), [{ host: '127.0.0.1', port: 7950 }, { host: '::1', port: 7950 }])
  assert.equal(datagramBinds(['/memory/a'], ['/memory/a']), [], 'no TCP: no datagrams')
})

test('target: requests to an advertised endpoint; answers only to a member heard from, preferring what it advertises', () => {
  const heard = new Map<string, DatagramEndpoint>([['b', { host: '127.0.0.1', port: 5555 }]])
  const channel = {
    heardFrom: (p: string) => heard.has(p),
    sourceOf: (p: string) => heard.get(p),
    reaches: (host: string) => !host.includes(':')
  } as unknown as DatagramChannel
  const addrs = ['/ip6/::1/udp/7000', '/ip4/127.0.0.1/udp/7001']
  assert.equal(datagramTarget(channel, 'request', 'a', addrs), { host: '127.0.0.1', port: 7001 }, 'the first one of a family with a socket')
  assert.is(datagramTarget(channel, 'request', 'a', ['/ip4/127.0.0.1/tcp/1']), undefined, 'no UDP address: over libp2p')
  assert.is(datagramTarget(channel, 'answer', 'a', addrs), undefined, 'never heard from a: its nonce is unknown')
  assert.equal(datagramTarget(channel, 'answer', 'b', addrs), { host: '127.0.0.1', port: 7001 })
  assert.equal(datagramTarget(channel, 'answer', 'b', []), { host: '127.0.0.1', port: 5555 }, 'unknown addresses: where it sent from')
})

test('silence: enough datagrams out and none in over a window reads as a blocked port; a quiet or answered window does not', () => {
  assert.ok(datagramsSilent({ sent: 100, received: 40 }, { sent: 130, received: 40 }))
  assert.not.ok(datagramsSilent({ sent: 100, received: 40 }, { sent: 130, received: 41 }), 'one datagram arrived')
  assert.not.ok(datagramsSilent({ sent: 100, received: 40 }, { sent: 110, received: 40 }), 'too few sent to say (a lone node probes nobody)')
})

test.run()
