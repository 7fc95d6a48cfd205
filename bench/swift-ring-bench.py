#!/usr/bin/python3
"""Times OpenStack Swift's own RingBuilder on one benchmark configuration and prints
JSON, for bench/ring.ts to compare side by side with ours.

  /usr/bin/python3 bench/swift-ring-bench.py --part-power 16 --devices 100 --zones 8
  /usr/bin/python3 bench/swift-ring-bench.py --cases-stdin < clusters.json

Scenarios (1 region, equal weights, 4 devices per host, host h in zone h % zones):
  initial   build from nothing
  addDevice one device on a new host, rebalanced from the initial builder
  addZone   a whole new zone (devices/zones devices), rebalanced from the initial builder
Moved partition-replicas are counted by diffing _replica2part2dev before and after;
the minimum is parts x replicas x addedWeight / totalWeight.
"""
import argparse
import copy
import json
import resource
import sys
import time

try:
    from swift.common.ring.builder import RingBuilder
except ImportError as err:  # pragma: no cover - reported to the caller as JSON
    print(json.dumps({'error': 'swift not importable: %s (apt-get install python3-swift)' % err}))
    sys.exit(2)

WEIGHT = 100.0
DISKS_PER_HOST = 4


def device(dev_id, host, zone, disk):
    return {'id': dev_id, 'region': 1, 'zone': zone, 'ip': '10.%d.%d.1' % (host >> 8, host & 255),
            'port': 6200, 'device': 'd%d' % disk, 'weight': WEIGHT, 'meta': ''}


def peak_rss_mb():
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rows_copy(builder):
    return [bytes(row) for row in builder._replica2part2dev]


def moved_between(before, builder):
    moved = 0
    for r, row in enumerate(builder._replica2part2dev):
        old = memoryview(before[r]).cast('H') if r < len(before) else None
        for p, dev in enumerate(row):
            if old is None or p >= len(old) or old[p] != dev:
                moved += 1
    return moved


def timed_rebalance(builder, seed):
    """Returns (wall ms, CPU ms) of one rebalance."""
    started = time.perf_counter()
    cpu = time.process_time()
    builder.rebalance(seed=seed)
    return (time.perf_counter() - started) * 1000.0, (time.process_time() - cpu) * 1000.0


def scenario(builder, before, total_weight, added_weight, timing):
    parts = 2 ** builder.part_power
    minimum = parts * builder.replicas * added_weight / total_weight
    moved = moved_between(before, builder)
    return {'ms': timing[0], 'cpuMs': timing[1], 'moved': moved, 'minimum': minimum, 'ratio': moved / minimum,
            'balance': builder.get_balance(), 'dispersion': builder.dispersion,
            'peakRssMb': peak_rss_mb()}


def build_cases(cases, seed):
    """Initial builds of the given clusters ([{partPower, replicas, devices}]): balance and dispersion."""
    out = []
    for case in cases:
        builder = RingBuilder(case['partPower'], case['replicas'], 0)
        for i, d in enumerate(case['devices']):
            builder.add_dev({'id': i, 'region': d['region'], 'zone': d['zone'], 'ip': d['ip'], 'port': d['port'],
                             'device': d['device'], 'weight': float(d['weight']), 'meta': ''})
        builder.rebalance(seed=seed)
        out.append({'balance': builder.get_balance(), 'dispersion': builder.dispersion})
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--cases-stdin', action='store_true', help='build the JSON list of clusters on stdin instead')
    parser.add_argument('--part-power', type=int)
    parser.add_argument('--devices', type=int)
    parser.add_argument('--zones', type=int)
    parser.add_argument('--replicas', type=float, default=3)
    parser.add_argument('--seed', type=int, default=1)
    args = parser.parse_args()
    if args.cases_stdin:
        print(json.dumps(build_cases(json.load(sys.stdin), args.seed)))
        return
    if args.part_power is None or args.devices is None or args.zones is None:
        parser.error('--part-power, --devices and --zones are required')

    builder = RingBuilder(args.part_power, args.replicas, 0)
    hosts = (args.devices + DISKS_PER_HOST - 1) // DISKS_PER_HOST
    for i in range(args.devices):
        host = i // DISKS_PER_HOST
        builder.add_dev(device(i, host, host % args.zones, i % DISKS_PER_HOST))
    ms, cpu_ms = timed_rebalance(builder, args.seed)
    out = {'builder': 'swift', 'partPower': args.part_power, 'devices': args.devices, 'zones': args.zones,
           'initial': {'ms': ms, 'cpuMs': cpu_ms, 'balance': builder.get_balance(), 'dispersion': builder.dispersion,
                       'peakRssMb': peak_rss_mb()}}
    total = args.devices * WEIGHT

    one = copy.deepcopy(builder)
    before = rows_copy(one)
    one.add_dev(device(args.devices, hosts, hosts % args.zones, 0))
    one.pretend_min_part_hours_passed()
    out['addDevice'] = scenario(one, before, total + WEIGHT, WEIGHT, timed_rebalance(one, args.seed))
    del one

    zone = copy.deepcopy(builder)
    before = rows_copy(zone)
    per_zone = args.devices // args.zones
    for i in range(per_zone):
        zone.add_dev(device(args.devices + 1 + i, hosts + 1 + i // DISKS_PER_HOST, args.zones, i % DISKS_PER_HOST))
    zone.pretend_min_part_hours_passed()
    added = per_zone * WEIGHT
    out['addZone'] = scenario(zone, before, total + added, added, timed_rebalance(zone, args.seed))
    print(json.dumps(out))


if __name__ == '__main__':
    main()
