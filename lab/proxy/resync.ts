import { isDeepStrictEqual } from 'node:util';
import type { ProxyModel, ProxyNode, ServicePortModel } from '../model/proxy';
import { iptablesTables, nodePortTargets, SERVICE_CHAIN_PREFIXES } from './iptables';
import { ipsetMembers, IPSETS, ipvsadmRestore, ipvsIptables, ipvsLink, parseIpvsadm } from './ipvs';
import { type ChainDef, type NftTable, nftablesTable, quote, type SetDef, TABLE_FAMILY, TABLE_NAME } from './nftables';

// The incremental re-sync of `lab apply`: only what changed between the rules the lab installed
// last (generated again from the topology it was synced with, kept in its record) and the rules
// of the topology now is written, as kube-proxy's partial syncs do.
//   nftables  one `nft -f` transaction: new chains added, changed ones flushed and re-filled,
//             set and map elements added / deleted one by one, stale chains and sets deleted
//             (kube-proxy's nftables proxier; it re-fills its maps whole, the lab only touches
//             the elements that changed)
//   iptables  `iptables-restore --noflush` of the changed chains only: a declared chain is
//             flushed and re-written, a stale one deleted (-X), the rest is not mentioned
//             (kube-proxy's partial sync, 1.26+)
//   ipvs      ipset add/del, ipvsadm -A/-D/-a/-d/-e of the virtual and real servers that
//             changed, kube-ipvs0's addresses added / deleted; its iptables tables (a fixed set of
//             rules around the sets) restored whole only when they changed
//
// The delta works on the generated output (chains, rules, elements), never on what a feature
// means: whatever a generator writes, the delta writes the difference. To stay within tens of
// milliseconds for 5,000 services, only the service ports of services whose model changed are
// generated (a service's output depends on it, the node and the model's settings only); when the
// settings change, or a chain every service shares (iptables' KUBE-SERVICES) changes, the whole
// of both sides is generated and compared.

/** The service ports to generate again: every port of each service (namespace/name) whose ports differ. */
export interface ChangedServices {
  /** the settings (mark, CIDRs, node-port addresses, ...) changed: everything is generated */
  all: boolean;
  before: ServicePortModel[];
  after: ServicePortModel[];
}

const serviceKey = (sp: ServicePortModel) => `${sp.namespace}/${sp.service}`;

/** Plain data (what a model is: objects, arrays, strings, numbers, booleans) compared member by member. */
export function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameData(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const k in x) {
    if (!(k in y) || !sameData(x[k], y[k])) return false;
    n++;
  }
  for (const k in y) if (k in y) n--; // (counting y's keys without making an array of them)
  return n === 0;
}

function byService(m: ProxyModel): Map<string, ServicePortModel[]> {
  const parts = new Map<string, ServicePortModel[]>();
  for (const sp of m.services) {
    const k = serviceKey(sp);
    const p = parts.get(k);
    if (p) p.push(sp);
    else parts.set(k, [sp]);
  }
  return parts;
}

export function changedServices(before: ProxyModel, after: ProxyModel): ChangedServices {
  const { services: b, ...bSettings } = before;
  const { services: a, ...aSettings } = after;
  if (!sameData(bSettings, aSettings)) return { all: true, before: b, after: a };
  const changed = new Set<string>();
  // the usual case, endpoints changed: the same service ports in the same order, compared pairwise
  if (a.length === b.length && a.every((sp, i) => sp.id === b[i]!.id && sp.protocol === b[i]!.protocol)) {
    for (let i = 0; i < a.length; i++) if (!sameData(b[i], a[i])) changed.add(serviceKey(a[i]!));
  } else {
    const was = byService(before);
    const now = byService(after);
    for (const [k, v] of now) if (!sameData(was.get(k), v)) changed.add(k);
    for (const k of was.keys()) if (!now.has(k)) changed.add(k);
  }
  return { all: false, before: b.filter((sp) => changed.has(serviceKey(sp))), after: a.filter((sp) => changed.has(serviceKey(sp))) };
}

// --- nftables -----------------------------------------------------------------------------------

const T = `${TABLE_FAMILY} ${TABLE_NAME}`;

/** An element's key: what comes before its comment or its ` : ` value. */
export const elementKey = (e: string) => {
  const c = e.indexOf(' comment ');
  const v = e.indexOf(' : ');
  const end = c >= 0 && (v < 0 || c < v) ? c : v;
  return end >= 0 ? e.slice(0, end) : e;
};

function chainSpec(c: ChainDef): string {
  const parts: string[] = [];
  if (c.base) parts.push(`type ${c.base.type} hook ${c.base.hook} priority ${c.base.priority}; policy accept;`);
  if (c.comment) parts.push(`comment ${quote(c.comment)};`);
  return parts.length ? ` { ${parts.join(' ')} }` : '';
}

function setSpec(s: SetDef): string {
  const parts = [`type ${s.type};`];
  if (s.flags) parts.push(`flags ${s.flags.join(',')};`);
  if (s.timeout !== undefined) parts.push(`timeout ${s.timeout}s;`);
  if (s.comment !== undefined) parts.push(`comment ${quote(s.comment)};`);
  return `{ ${parts.join(' ')} }`;
}

const sameChain = (x: ChainDef, y: ChainDef) => x.comment === y.comment && isDeepStrictEqual(x.rules, y.rules);
const sameSetDef = (x: SetDef, y: SetDef) =>
  x.kind === y.kind && x.type === y.type && x.timeout === y.timeout && isDeepStrictEqual(x.flags, y.flags) && x.comment === y.comment;

/**
 * The `nft -f` commands that turn `before` into `after` (both whole tables, or both the same
 * services' part of them): [] when nothing changed. One file is one transaction. Order: what is
 * new is created before anything refers to it; what goes is unreferenced (its chains flushed,
 * its elements deleted) before it is deleted.
 */
export function nftablesDelta(before: NftTable, after: NftTable): string[] {
  const was = new Map(before.chains.map((c) => [c.name, c]));
  const now = new Map(after.chains.map((c) => [c.name, c]));
  const wasSets = new Map(before.sets.map((s) => [s.name, s]));
  const nowSets = new Map(after.sets.map((s) => [s.name, s]));
  const added = after.chains.filter((c) => !was.has(c.name));
  const changed = after.chains.filter((c) => was.has(c.name) && !sameChain(was.get(c.name)!, c));
  const stale = before.chains.filter((c) => !now.has(c.name));
  // a set whose definition changed is made again (nft cannot change a set's type or flags)
  const goneSets = before.sets.filter((s) => !nowSets.has(s.name) || !sameSetDef(s, nowSets.get(s.name)!));
  const newSets = after.sets.filter((s) => !wasSets.has(s.name) || !sameSetDef(wasSets.get(s.name)!, s));
  const out: string[] = [];
  for (const c of added) out.push(`add chain ${T} ${c.name}${chainSpec(c)}`);
  for (const s of newSets.filter((s) => !wasSets.has(s.name))) out.push(`add ${s.kind} ${T} ${s.name} ${setSpec(s)}`);
  for (const c of [...changed, ...stale]) out.push(`flush chain ${T} ${c.name}`);
  for (const s of goneSets) out.push(`delete ${s.kind} ${T} ${s.name}`);
  for (const s of newSets.filter((s) => wasSets.has(s.name))) out.push(`add ${s.kind} ${T} ${s.name} ${setSpec(s)}`);
  for (const c of [...added, ...changed]) for (const r of c.rules) out.push(`add rule ${T} ${c.name} ${r}`);
  const dels: string[] = [];
  const adds: string[] = [];
  for (const s of after.sets) {
    const old = wasSets.get(s.name);
    const oldEls = old && sameSetDef(old, s) ? old.elements : [];
    const keep = new Set(oldEls);
    const nowEls = new Set(s.elements);
    const del = oldEls.filter((e) => !nowEls.has(e)).map(elementKey);
    const add = s.elements.filter((e) => !keep.has(e));
    if (del.length) dels.push(`delete element ${T} ${s.name} { ${del.join(', ')} }`);
    if (add.length) adds.push(`add element ${T} ${s.name} { ${add.join(', ')} }`);
  }
  out.push(...dels, ...adds);
  for (const c of stale) out.push(`delete chain ${T} ${c.name}`);
  return out;
}

// --- iptables -----------------------------------------------------------------------------------

interface IptablesSide {
  tables: Map<'filter' | 'nat', Map<string, string[]>>;
}

const iptablesSide = (t: ReturnType<typeof iptablesTables>): IptablesSide => ({
  tables: new Map([
    ['filter', t.filter.chainRules()],
    ['nat', t.nat.chainRules()],
  ]),
});

/** A chain of one service (kube-proxy's isServiceChainName); every other chain may hold rules of many. */
const iptablesServiceChain = (c: string) => SERVICE_CHAIN_PREFIXES.some((p) => c.startsWith(p));

/**
 * The `iptables-restore --noflush` text that turns `before` into `after`: each changed or new
 * chain declared (which flushes it) and written, each stale one declared and deleted; '' when
 * nothing changed. `sharedChanged`: a chain shared by all services differs, so (when the sides
 * were only the changed services) the whole tables must be compared instead.
 */
export function iptablesDelta(before: IptablesSide, after: IptablesSide): { text: string; sharedChanged: boolean } {
  const out: string[] = [];
  let sharedChanged = false;
  for (const table of ['filter', 'nat'] as const) {
    const was = before.tables.get(table) ?? new Map<string, string[]>();
    const now = after.tables.get(table) ?? new Map<string, string[]>();
    const decl: string[] = [];
    const rules: string[] = [];
    const deletes: string[] = [];
    for (const [chain, rs] of now) {
      const old = was.get(chain);
      if (old && isDeepStrictEqual(old, rs)) continue;
      if (!iptablesServiceChain(chain)) sharedChanged = true;
      decl.push(`:${chain} - [0:0]`);
      for (const r of rs) rules.push(`-A ${chain} ${r}`);
    }
    for (const chain of was.keys())
      if (!now.has(chain)) {
        decl.push(`:${chain} - [0:0]`);
        deletes.push(`-X ${chain}`);
      }
    if (decl.length) out.push(`*${table}`, ...decl, ...rules, ...deletes, 'COMMIT');
  }
  return { text: out.length ? `${out.join('\n')}\n` : '', sharedChanged };
}

// --- ipvs ---------------------------------------------------------------------------------------

const lineSet = (text: string) => text.split('\n').filter((l) => l);

/** The IPVS batches that turn `before`'s state on a node into `after`'s; tools with nothing to do are left out. */
export function ipvsDelta(
  before: ProxyModel,
  after: ProxyModel,
  node: ProxyNode,
): Partial<Record<'ip' | 'ipset' | 'iptables-restore' | 'ipvsadm', string[]>> {
  const out: Partial<Record<'ip' | 'ipset' | 'iptables-restore' | 'ipvsadm', string[]>> = {};
  // kube-ipvs0: addresses added and deleted one by one
  const addrOf = (l: string) => (l.startsWith('addr add ') ? l.slice('addr add '.length) : undefined);
  const wasAddrs = new Set(
    ipvsLink(before)
      .map(addrOf)
      .filter((a) => a !== undefined),
  );
  const nowAddrs = ipvsLink(after)
    .map(addrOf)
    .filter((a) => a !== undefined);
  const nowSet = new Set(nowAddrs);
  const link = [
    ...[...wasAddrs].filter((a) => !nowSet.has(a)).map((a) => `addr del ${a}`),
    ...nowAddrs.filter((a) => !wasAddrs.has(a)).map((a) => `addr add ${a}`),
  ];
  if (link.length) out.ip = link;
  // the sets: every one ensured (as each sync does), then the members that changed
  const was = ipsetMembers(before, node);
  const now = ipsetMembers(after, node);
  const ipset: string[] = [];
  for (const s of Object.values(IPSETS)) {
    const w = new Set(was.get(s.name) ?? []);
    const n = now.get(s.name) ?? [];
    const ns = new Set(n);
    for (const m of w) if (!ns.has(m)) ipset.push(`del ${s.name} ${m} -exist`);
    for (const m of n) if (!w.has(m)) ipset.push(`add ${s.name} ${m} -exist`);
  }
  if (ipset.length) out.ipset = ipset;
  const ipt = ipvsIptables(after, node);
  if (ipt !== ipvsIptables(before, node)) out['iptables-restore'] = lineSet(ipt);
  // virtual services and their real servers
  const vsWas = parseIpvsadm(ipvsadmRestore(before, node)).services;
  const vsNow = parseIpvsadm(ipvsadmRestore(after, node)).services;
  const flag = (p: 'TCP' | 'UDP') => (p === 'TCP' ? '-t' : '-u');
  const fwd = { masq: '-m', gate: '-g', ipip: '-i' } as const;
  const ipvsadm: string[] = [];
  for (const [key, vs] of vsWas) if (!vsNow.has(key)) ipvsadm.push(`-D ${flag(vs.protocol)} ${vs.address}`);
  for (const [key, vs] of vsNow) {
    const f = `${flag(vs.protocol)} ${vs.address}`;
    const old = vsWas.get(key);
    if (!old) ipvsadm.push(`-A ${f} -s ${vs.scheduler}`);
    else if (old.scheduler !== vs.scheduler) ipvsadm.push(`-E ${f} -s ${vs.scheduler}`);
    const oldReals = new Map((old?.reals ?? []).map((r) => [r.address, r]));
    const nowReals = new Map(vs.reals.map((r) => [r.address, r]));
    for (const r of oldReals.keys()) if (!nowReals.has(r)) ipvsadm.push(`-d ${f} -r ${r}`);
    for (const r of vs.reals) {
      const o = oldReals.get(r.address);
      if (!o) ipvsadm.push(`-a ${f} -r ${r.address} ${fwd[r.forward]} -w ${r.weight}`);
      else if (o.forward !== r.forward || o.weight !== r.weight) ipvsadm.push(`-e ${f} -r ${r.address} ${fwd[r.forward]} -w ${r.weight}`);
    }
  }
  if (ipvsadm.length) out.ipvsadm = ipvsadm;
  return out;
}

// --- per node -----------------------------------------------------------------------------------

const lines = (text: string) => text.replace(/\n+$/, '').split('\n');

/**
 * The re-sync batches for a node going from `before` to `after` (same mode): tool → lines, a
 * tool left out when nothing of it changed. What does not depend on the node is compared once.
 */
export function deltaRulesForNodes(
  before: ProxyModel,
  after: ProxyModel,
): (node: ProxyNode) => Partial<Record<'nft' | 'iptables-restore' | 'ip' | 'ipset' | 'ipvsadm', string[]>> {
  const ch = changedServices(before, after);
  switch (after.mode) {
    case 'none':
      return () => ({});
    case 'nftables':
      return (node) => {
        const was = nftablesTable(before, node, ch.before);
        const now = nftablesTable(after, node, ch.after);
        // a chain that is no service's own (no '/', kube-proxy's isServiceChainName) changed: it
        // may hold rules of other services too, so both whole tables are compared
        const shared = (t: NftTable) => t.chains.filter((c) => !c.name.includes('/')).map((c) => [c.name, c.comment, c.rules]);
        const d =
          !ch.all && !sameData(shared(was), shared(now))
            ? nftablesDelta(nftablesTable(before, node), nftablesTable(after, node))
            : nftablesDelta(was, now);
        return d.length ? { nft: d } : {};
      };
    case 'iptables': {
      // as rulesForNodes: one text for every node unless node ports bind to its addresses or a Local policy picks its endpoints
      const perNode = [before, after].some(
        (m) => nodePortTargets(m) !== 'all' || m.services.some((sp) => sp.externalLocal || sp.internalLocal || sp.sourceRanges),
      );
      let same: ReturnType<typeof nodeDelta> | undefined;
      const nodeDelta = (node?: ProxyNode) => {
        const side = (m: ProxyModel, services?: ServicePortModel[]) =>
          iptablesSide(iptablesTables(m, node, { resync: true, ...(services ? { services } : {}) }));
        let d = iptablesDelta(side(before, ch.before), side(after, ch.after));
        // a shared chain changed: its whole content is needed, so both sides are made whole
        if (d.sharedChanged && !ch.all) d = iptablesDelta(side(before), side(after));
        return d.text ? { 'iptables-restore': lines(d.text) } : {};
      };
      return (node) => (perNode ? nodeDelta(node) : (same ??= nodeDelta()));
    }
    case 'ipvs':
      return (node) => ipvsDelta(before, after, node);
  }
}
