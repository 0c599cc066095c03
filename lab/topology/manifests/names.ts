// Pod names as Kubernetes' controllers make them, but deterministic so that a lab is reproducible:
// Deployment → ReplicaSet <deploy>-<pod-template-hash> → pods <rs>-<5 chars>; DaemonSet pods
// <ds>-<5 chars>; StatefulSet pods <sts>-<ordinal>. The real hash is FNV-32a of the pod template
// as Go prints it; the lab hashes the controller's namespace/name instead (the template's Go
// dump cannot be reproduced), then encodes it as kube does (k8s.io/apimachinery rand.SafeEncodeString).

/** The characters kube's generated names use: no vowels (no words), no 0/1/3 (no look-alikes). */
export const KUBE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** 32-bit FNV-1a (hash/fnv New32a, which ComputeHash uses). */
export function fnv32a(text: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** rand.SafeEncodeString: each byte of `s` → KUBE_ALPHABET[byte % 27]. */
export const safeEncode = (s: string): string => [...Buffer.from(s, 'utf8')].map((b) => KUBE_ALPHABET[b % KUBE_ALPHABET.length]).join('');

/** A pod-template-hash as controller.ComputeHash prints it: the decimal uint32, safe-encoded (up to 10 characters). */
export const podTemplateHash = (namespace: string, controller: string): string => safeEncode(String(fnv32a(`${namespace}/${controller}`)));

/** The 5-character suffix of a generated name (utilrand.String(5)), drawn from a seed instead of at random. */
export function suffix5(seed: string): string {
  let h = fnv32a(seed);
  let out = '';
  for (let i = 0; i < 5; i++) {
    // xorshift32: five draws from one seed
    h ^= h << 13;
    h >>>= 0;
    h ^= h >>> 17;
    h ^= h << 5;
    h >>>= 0;
    out += KUBE_ALPHABET[h % KUBE_ALPHABET.length];
  }
  return out;
}

/** `count` distinct generated pod names for `owner` (a ReplicaSet's or DaemonSet's name). */
export function generatedPodNames(namespace: string, owner: string, count: number): string[] {
  const names: string[] = [];
  const taken = new Set<string>();
  for (let i = 0, attempt = 0; names.length < count; attempt++) {
    // names.SimpleNameGenerator: the base is cut to 58 characters so the name fits 63
    const name = `${`${owner}-`.slice(0, 58)}${suffix5(`${namespace}/${owner}/${i}/${attempt}`)}`;
    if (taken.has(name)) continue;
    taken.add(name);
    names.push(name);
    i++;
  }
  return names;
}
