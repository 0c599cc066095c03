import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// The host's apt sources (sources.list one-line style and deb822 .sources), the Debian mirror
// they name, and the sources.list an image made from that mirror gets (lab/docker/base-image.ts).

export const SUITE = 'bookworm';

export interface AptSource {
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
}

/** Parses deb822 .sources text: stanzas of `Field: value` separated by blank lines. */
export function parseDeb822(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of text.split(/\n[ \t]*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#') || !line.trim()) continue;
      if (/^[ \t]/.test(line)) {
        if (last !== undefined) fields.set(last, `${fields.get(last) ?? ''}\n${line.trim()}`);
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (!m?.[1]) continue;
      last = m[1].toLowerCase();
      fields.set(last, (m[2] ?? '').trim());
    }
    if (/^(no|false|0)$/i.test(fields.get('enabled') ?? '')) continue;
    const words = (k: string): string[] => (fields.get(k) ?? '').split(/\s+/).filter(Boolean);
    const s: AptSource = { types: words('types'), uris: words('uris'), suites: words('suites'), components: words('components') };
    if (s.types.length && s.uris.length && s.suites.length) out.push(s);
  }
  return out;
}

/** Parses one-line-style sources.list text: `deb [options] uri suite [component…]`. */
export function parseSourcesList(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw
      .replace(/#.*$/, '')
      .replace(/\[[^\]]*\]/, ' ')
      .trim();
    const [type, uri, suite, ...components] = line.split(/\s+/);
    if (!type || !uri || !suite || !/^deb(-src)?$/.test(type)) continue;
    out.push({ types: [type], uris: [uri], suites: [suite], components });
  }
  return out;
}

/** The host's apt sources: /etc/apt/sources.list, sources.list.d/*.list and *.sources. */
export function readAptSources(aptDir = '/etc/apt'): AptSource[] {
  const read = (f: string): string => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  const out = parseSourcesList(read(join(aptDir, 'sources.list')));
  const d = join(aptDir, 'sources.list.d');
  for (const f of safeList(d).sort()) {
    if (f.endsWith('.list')) out.push(...parseSourcesList(read(join(d, f))));
    else if (f.endsWith('.sources')) out.push(...parseDeb822(read(join(d, f))));
  }
  return out;
}

const isHttp = (u: string): boolean => /^https?:\/\//.test(u);
const isRelease = (suite: string): boolean => !/[-/](security|updates|backports|proposed-updates)$/.test(suite);

/**
 * The mirror to debootstrap bookworm from: the URI of a `deb` source for bookworm if the host
 * has one, else of the first `deb` source for a Debian release suite (a Debian mirror carries
 * every release). Undefined when the host names no http(s) mirror.
 */
export function debianMirror(sources: readonly AptSource[]): string | undefined {
  const debs = sources.filter((s) => s.types.includes('deb'));
  const pick = (ok: (s: AptSource) => boolean): string | undefined =>
    debs
      .filter(ok)
      .flatMap((s) => s.uris)
      .find(isHttp);
  return (
    pick((s) => s.suites.includes(SUITE) && s.components.includes('main')) ??
    pick((s) => s.suites.some(isRelease) && s.components.includes('main') && s.uris.some((u) => /debian/.test(u)))
  );
}

/**
 * The sources.list for the image: the host's `deb` sources for bookworm and its -updates and
 * -security suites (as the host names them, its mirrors), or just `<mirror> bookworm main`.
 */
export function aptSourcesFor(sources: readonly AptSource[], mirror: string): string {
  const wanted = new Set([SUITE, `${SUITE}-updates`, `${SUITE}-security`, `${SUITE}/updates`]);
  const lines: string[] = [];
  for (const s of sources) {
    if (!s.types.includes('deb')) continue;
    for (const uri of s.uris.filter(isHttp)) {
      for (const suite of s.suites.filter((x) => wanted.has(x))) {
        const line = `deb ${uri} ${suite} ${(s.components.length ? s.components : ['main']).join(' ')}`;
        if (!lines.includes(line)) lines.push(line);
      }
    }
  }
  if (!lines.some((l) => l.split(' ')[2] === SUITE)) lines.unshift(`deb ${mirror} ${SUITE} main`);
  return lines.join('\n') + '\n';
}

/** The host's Acquire::Check-Valid-Until / Check-Date settings, as apt.conf text ('' when unset). */
export function hostAptValidity(): string {
  const r = spawnSync('apt-config', ['dump'], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .filter((l) => /^Acquire::(Check-Valid-Until|Check-Date) "/.test(l))
    .map((l) => l + '\n')
    .join('');
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
