import pc from 'picocolors';
import type { NodeRules, Walk, WalkDns, WalkHeaders } from './types';

// A walk for the terminal: one block per point (headers, what changed in colour, differences in
// red), then per node the hooks and chains the packet went through.

const hp = (ip: string, port?: number) => (port === undefined ? ip : `${ip}:${port}`);

export function headerLine(h: WalkHeaders): string {
  const l4 = h.l4;
  const what = l4?.icmpType
    ? `icmp ${l4.icmpType} id ${l4.icmpId ?? '?'} seq ${l4.icmpSeq ?? '?'}`
    : `${h.ip.protocol}${l4?.flags ? ` [${l4.flags.join(',')}]` : ''}`;
  const inner = `${hp(h.ip.src, l4?.srcport)} → ${hp(h.ip.dst, l4?.dstport)} ${what} ttl ${h.ip.ttl}${h.ip.id !== undefined ? ` id ${h.ip.id}` : ''}${h.eth ? `  ${h.eth.src} → ${h.eth.dst}` : ''}`;
  if (!h.outer) return inner;
  const o = h.outer;
  const how = o.ipip ? 'ipip (proto 4)' : `udp ${o.udp.srcport ?? '*'} → ${o.udp.dstport} vni ${o.vni}`;
  return `${o.ip.src} → ${o.ip.dst} ${how} ttl ${o.ip.ttl}${o.eth ? `  ${o.eth.src} → ${o.eth.dst}` : ''}\n      ⤷ ${inner}`;
}

export function rulesLines(r: NodeRules): string[] {
  const out = [`  ${pc.bold(r.node)}: ${r.hooks.join(' → ')}`];
  let hook = '';
  let line: string[] = [];
  const flush = () => {
    if (line.length) out.push(`    ${hook.padEnd(12)} ${line.join(' › ')}`);
    line = [];
  };
  for (const e of r.events) {
    if (e.packet) {
      flush();
      hook = e.hook;
      line.push(
        `${e.table} ${e.chain} ${pc.dim(`(${hp(e.packet.src, e.packet.srcport)} → ${hp(e.packet.dst, e.packet.dstport)}${e.packet.mark ? ` mark ${e.packet.mark}` : ''})`)}`,
      );
      continue;
    }
    const v = e.verdict ?? '';
    if (/^(jump|goto) /.test(v)) line.push(v.replace(/^(jump|goto) /, ''));
    else if (/dnat|snat|masquerade|mark set|MARK/.test(e.rule ?? ''))
      line.push(pc.cyan(`${(e.rule ?? '').replace(/.*?((?:dnat|snat|masquerade|meta mark set)\b.*?)(?: \(|$)/, '$1')} (${v})`));
    else if (v === 'drop' && /comment "/.test(e.rule ?? '')) line.push(pc.red(`drop: ${/comment "([^"]*)"/.exec(e.rule!)![1]}`));
    else if (v !== 'continue') line.push(pc.dim(v));
  }
  flush();
  if (r.expectedChains) out.push(pc.dim(`    expected: ${r.expectedChains.join(' → ')}`));
  for (const d of r.differences) out.push(pc.red(`    ✗ ${d}`));
  return out;
}

/** The DNS step: each query of the search list, its way through kube-dns's DNAT, and the answer. */
export function dnsLines(d: WalkDns): string[] {
  const mark = d.differences.length ? pc.red('✗') : pc.green('✓');
  const got = d.addresses.length ? `${d.addresses.join(', ')}${d.canonical ? ` (${d.canonical})` : ''}` : pc.red('nothing');
  const out = [`${mark} ${pc.bold('dns')} ${d.name} → ${got}`, pc.dim(`      resolver: ${d.argv.join(' ')} (the pod's resolv.conf)`)];
  for (const q of d.queries) {
    const way = [`→ ${q.sentTo}`, q.server ? `DNAT → ${q.server} ${q.arrivedAt}` : pc.red('reached no DNS pod')].join(', ');
    const back = q.answerFrom
      ? `${q.rcode}${q.answers.length ? ` ${q.answers.join(', ')}` : ''} from ${q.answerFrom}`
      : pc.red('no answer');
    out.push(`      ${q.qtype} ${q.qname}  ${way}; ${q.rcode === 'NOERROR' && q.answers.length ? pc.yellow(back) : back}`);
  }
  for (const x of d.differences) out.push(pc.red(`      ✗ ${x}`));
  return out;
}

export function walkText(w: Walk): string {
  const out: string[] = [];
  const target = hp(w.target.ip, w.target.port);
  out.push(
    `${pc.bold(`trace ${w.from} → ${w.to}`)} (${target} ${w.protocol}) in lab ${w.lab}, proxy ${w.proxy}: ${w.reached ? `reached ${pc.bold(w.reached)}` : w.dropped ? pc.red(`dropped by NetworkPolicy on ${w.dropped.node} (${w.dropped.chain})`) : pc.red('reached nothing')}`,
    pc.dim(`probe: ${w.argv.join(' ')}`),
    '',
  );
  if (w.dns) out.push(...dnsLines(w.dns), '');
  w.hops.forEach((h, i) => {
    const mark = h.differences.length ? pc.red('✗') : pc.green('✓');
    out.push(`${mark} ${String(i + 1).padStart(2)} ${pc.bold(h.point)}${h.frame !== undefined ? pc.dim(`  ${h.pcap} #${h.frame}`) : ''}`);
    out.push(`      ${h.observed ? headerLine(h.observed) : pc.dim(`(not seen) expected ${h.expected ? headerLine(h.expected) : ''}`)}`);
    for (const c of h.changes) out.push(`      ${pc.yellow(c.text)}`);
    for (const d of h.differences) out.push(pc.red(`      ✗ ${d}`));
  });
  if (w.rules.length) out.push('', pc.bold('netfilter (nft monitor trace)'), ...w.rules.flatMap(rulesLines));
  for (const n of w.notes) out.push(pc.dim(`note: ${n}`));
  out.push('', w.ok ? pc.green('observed walk = expected walk') : pc.red(`${w.differences.length} difference(s) from the expected walk`));
  return out.join('\n');
}
