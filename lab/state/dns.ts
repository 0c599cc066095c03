import { join } from 'node:path';
import { STATE_DIR } from './store';

// Where a lab's cluster DNS keeps its files: each server pod's dnsmasq configuration and hosts
// file under <state>/dns/<lab>/; each pod's resolv.conf where `ip netns exec` bind-mounts it
// over /etc/resolv.conf (/etc/netns/<namespace>/resolv.conf). `down` removes both. On the docker
// runtime both paths are inside the node containers (the state folder's path as on this machine)
// and go with them.

export const dnsDir = (lab: string) => join(STATE_DIR, 'dns', lab);
/** `pod` is the lab's pod name (<ns>/<pod> outside namespace default): one file name, <ns>.<pod>. */
export const dnsFiles = (lab: string, pod: string) => ({
  conf: join(dnsDir(lab), `${pod.replace('/', '.')}.conf`),
  hosts: join(dnsDir(lab), `${pod.replace('/', '.')}.hosts`),
});

/** iproute2's per-namespace configuration folder (`ip netns exec` mounts /etc/netns/<ns>/* over /etc/*). */
export const NETNS_ETC = process.env.KDL_NETNS_ETC ?? '/etc/netns';
/**
 * The same folder inside a docker node container, where its pods' namespaces live: the node
 * image's iproute2 reads /etc/netns/<ns>/ there (the host's NETNS_ETC is not involved), and it
 * goes with the container.
 */
export const CONTAINER_NETNS_ETC = '/etc/netns';
/** a marker that the lab made NETNS_ETC itself, so the last lab to go removes it again */
export const netnsEtcMarker = () => join(STATE_DIR, 'dns', 'made-etc-netns');
