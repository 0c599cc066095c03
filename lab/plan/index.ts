import { streamNetwork } from '../network/plan';
import { planProxy, type ProxyPlanOptions } from '../proxy/plan';
import type { Topology } from '../topology/types';
import { planBird } from '../network/cni/bird';
import { calicoRulePhases } from '../network/cni/calico';
import { planPolicy } from '../policy/plan';
import { type DaemonConfig, type LabPlan, type LabPlanStream, type Step, planOf, streamOf, toolCommand } from './types';

// The whole plan of a lab: the network's phases, then kube-proxy's (and the user's rule files),
// then the configurations of the daemons `up` starts after them (Calico's BIRD).
// Pure; golden-tested (lab/network/__tests__/golden/).

/** `env`: what the kernel offers that changes the batches (kube-ipvs0's link type). */
export function planLab(topo: Topology, env: ProxyPlanOptions = {}): LabPlan {
  return planOf(streamLab(topo, env));
}

/** The same plan with its biggest phases (configure, neighbours) made step by step as `up` applies them. */
export function streamLab(topo: Topology, env: ProxyPlanOptions = {}): LabPlanStream {
  const net = streamNetwork(topo);
  const daemons = planBird(topo).map((c): DaemonConfig => ({ ns: c.ns, daemon: 'bird', text: c.text }));
  return {
    ...net,
    // Calico's chains after kube-proxy's: its jump is inserted first in POSTROUTING, as Felix does
    phases: [
      ...net.phases,
      ...[
        ...planProxy(topo, { ...(env.ipvsDevice ? { ipvsDevice: env.ipvsDevice } : {}) }),
        ...calicoRulePhases(topo),
        // the policy agent last: its table judges what the network and kube-proxy deliver
        ...planPolicy(topo),
      ].map(streamOf),
    ],
    ...(daemons.length ? { daemons } : {}),
  };
}

/** The plan as the commands it stands for, for golden files and `lab plan`. */
export function renderPlan(plan: LabPlan): string {
  const out: string[] = [`# lab ${plan.lab}`, '## namespaces (ip -batch)', ...plan.namespaces.map((ns) => `netns add ${ns}`)];
  const step = (s: Step) => {
    const head = `${s.tool === 'sysctl' ? 'sysctl -w' : toolCommand(s).join(' ')} (in ${s.ns})`;
    out.push(`## ${head}`, ...s.lines);
  };
  for (const phase of plan.phases) {
    out.push(`# ${phase.name}`);
    phase.steps.forEach(step);
  }
  if (plan.daemons?.length) {
    out.push('# daemons');
    for (const d of plan.daemons) out.push(`## ${d.daemon} configuration (in ${d.ns})`, ...d.text.replace(/\n$/, '').split('\n'));
  }
  return out.join('\n') + '\n';
}
