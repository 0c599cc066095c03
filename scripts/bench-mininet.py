"""Mininet's side of `npm run bench -- up --against mininet` (see bench-mininet.ts).

python3 bench-mininet.py HOSTS: builds and starts HOSTS hosts on Linux bridges (lxbr), no
controller, then stops them; prints {"upSeconds", "downSeconds", "switches", "peakMiB"} as JSON.
Timed inside Python, so the interpreter's start and mininet's import are not counted.

Run it inside a network namespace of the bench's own (`ip netns exec`): mininet puts its switches
and their veth ends in the namespace it is started in, and that must not be the host's.
"""

import json
import resource
import sys
import time

from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.nodelib import LinuxBridge
from mininet.topo import SingleSwitchTopo, Topo

# A Linux bridge takes at most 1023 ports: past that, a line of bridges (as LinearTopo), each
# with one port to each neighbour bridge.
PORTS_PER_BRIDGE = 1000


class BridgeLine(Topo):
    """`hosts` hosts spread evenly over `switches` bridges in a line (LinearTopo, any count)."""

    def build(self, hosts: int, switches: int) -> None:  # pylint: disable=arguments-differ
        prev = None
        for s in range(switches):
            sw = self.addSwitch(f"s{s + 1}")
            if prev:
                self.addLink(prev, sw)
            prev = sw
            for h in range(s, hosts, switches):
                self.addLink(self.addHost(f"h{h + 1}"), sw)


def main() -> None:
    hosts = int(sys.argv[1])
    setLogLevel("error")
    # Mininet.init() would call fixLimits(), which raises host-wide sysctls (neighbour gc_thresh,
    # rmem/wmem_max, kernel.pty.max): global knobs that no namespace scopes. The limits it wants
    # are not needed at these sizes, so it is skipped (we are root already, its other check).
    Mininet.inited = True
    switches = -(-hosts // PORTS_PER_BRIDGE)
    topo = SingleSwitchTopo(hosts) if switches == 1 else BridgeLine(hosts, switches)
    net = Mininet(
        topo=topo,
        switch=LinuxBridge,
        controller=None,
        build=False,
        autoSetMacs=False,
        waitConnected=False,
    )
    t0 = time.perf_counter()
    net.build()
    net.start()
    up = time.perf_counter() - t0
    t1 = time.perf_counter()
    net.stop()
    down = time.perf_counter() - t1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "hosts": len(net.hosts),
                "switches": switches,
                "upSeconds": up,
                "downSeconds": down,
                "peakMiB": peak,
            }
        )
    )


if __name__ == "__main__":
    main()
