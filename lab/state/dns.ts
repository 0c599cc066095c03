import { join } from 'node:path';
import { STATE_DIR } from './store';

// Where a lab's cluster DNS keeps its files: each server pod's dnsmasq configuration and hosts
// file under <state>/dns/<lab>/; each pod's resolv.conf where `ip netns exec` bind-mounts it
// over /etc/resolv.conf (/etc/netns/<namespace>/resolv.conf). `down` removes both.

export const dnsDir = (lab: string) => join(STATE_DIR, 'dns', lab);
/** `pod` is the lab's pod name (<ns>/<pod> outside namespace default): one file name, <ns>.<pod>. */
export const dnsFiles = (lab: string, pod: string) => ({
  conf: join(dnsDir(lab), `${pod.replace('/', '.')}.conf`),
  hosts: join(dnsDir(lab), `${pod.replace('/', '.')}.hosts`),
});

/** iproute2's per-namespace configuration folder (`ip netns exec` mounts /etc/netns/<ns>/* over /etc/*). */
export const NETNS_ETC = process.env.KDL_NETNS_ETC ?? '/etc/netns';
/** a marker that the lab made NETNS_ETC itself, so the last lab to go removes it again */
export const netnsEtcMarker = () => join(STATE_DIR, 'dns', 'made-etc-netns');
