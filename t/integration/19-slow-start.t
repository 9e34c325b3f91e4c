#!/usr/bin/env python3
# slow_start: a server that comes back after failing its probes gets its
# weight ramped up, not its full share at once.
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Backend, Portico, subtest_guard, wait_until


SLOW = 10       # slow_start, seconds


def max_share(t):
    """bb's share t seconds after it came back, if its weight (10) ramps
    up linearly over SLOW seconds beside ba's 10."""
    w = 10.0 * min(1.0, t / SLOW)
    return w / (10.0 + w)


def test():
    ba, bb = Backend("ba"), Backend("bb")
    p = Portico(upstreams={
        "app": {"servers": [ba.addr + " weight=10", bb.addr + " weight=10"],
                "health_check": "tcp", "health_interval": "200ms",
                "health_rise": "1", "health_fall": "1", "slow_start": "%ds" % SLOW},
    }, workers=1)
    p.start()

    def up_lines():
        rx = re.compile(r"upstream app server %s: up \(" % re.escape(bb.addr))
        return [l for l in p.error_log().splitlines() if rx.search(l)]

    with subtest_guard("slow start"):
        seq = [p.get("/echo/a%d" % i).header("X-Backend") for i in range(40)]
        tap.is_(seq.count("bb"), 20, "before: even weights share evenly (20 of 40)")
        port_b = bb.port
        bb.stop()
        tap.ok(wait_until(lambda: re.search(r"server %s: down \(" % re.escape(bb.addr),
                                            p.error_log()), 3), "bb marked down")
        bb2 = Backend("bb", port=port_b)
        tap.ok(wait_until(lambda: up_lines(), 3), "bb marked up again")
        t_up = time.monotonic()
        early = [p.get("/echo/b%d" % i).header("X-Backend") for i in range(40)]
        early_dt = time.monotonic() - t_up
        share = early.count("bb") / 40.0
        # Bounded from one side, by the time the requests really took: on a
        # loaded machine they take longer and the ramp has gone further.
        tap.ok(0 < share <= min(0.45, max_share(early_dt) + 0.1),
               "after coming back: a small share (%.0f%% in the first %.1f s of a %d s "
               "slow_start; at most %.0f%% + 10), not 50%%"
               % (share * 100, early_dt, SLOW, max_share(early_dt) * 100))
        time.sleep(max(0, SLOW + 0.5 - (time.monotonic() - t_up)))
        late = [p.get("/echo/c%d" % i).header("X-Backend") for i in range(40)]
        tap.is_(late.count("bb"), 20, "after slow_start: its full share again (20 of 40)")
        bb2.stop()
    p.stop()


if __name__ == "__main__":
    main(test, timeout=60, tests=6)
