// The resolved topology: every default applied, every address decided. Plans are made from this.

export type Backend = 'vxlan' | 'host-gw';
export type RuntimeKind = 'netns';

export interface PodPort {
  port: number;
  protocol: 'TCP' | 'UDP';
  name?: string;
}

export interface TopologyNode {
  name: string;
  ip: string; // underlay address of eth0
  underlay: string; // the segment it sits on (CIDR)
  gateway: string; // default route: the segment's gateway in the lab's own namespace
  podSubnet: string; // CIDR
  cni0: string; // <subnet>.1
  vtep: string; // <subnet>.0, flannel.<vni>'s address
}

export interface TopologyPod {
  name: string;
  node: string;
  ip: string;
  labels: Record<string, string>;
  ports: PodPort[];
}

export interface Topology {
  name: string;
  runtime: RuntimeKind;
  source: string; // file it came from
  cluster: {
    podCIDR: string;
    serviceCIDR: string;
    underlay: { cidr: string; gateway: string }[]; // segments; gateway = .1, in the lab namespace
    backend: Backend;
    vni: number;
    port: number;
    mtu: number;
  };
  nodes: TopologyNode[];
  pods: TopologyPod[];
}
