import { planNetwork } from '../network/plan';
import { planProxy, type ProxyPlanOptions } from '../proxy/plan';
import type { Topology } from '../topology/types';
import { type LabPlan, type Step, toolCommand } from './types';

// The whole plan of a lab: the network's phases, then kube-proxy's (and the user's rule files).
// Pure; golden-tested (lab/network/__tests__/golden/).

/** `env`: what the kernel offers that changes the batches (kube-ipvs0's link type). */
export function planLab(topo: Topology, env: ProxyPlanOptions = {}): LabPlan {
  const net = planNetwork(topo);
  return { ...net, phases: [...net.phases, ...planProxy(topo, { ...(env.ipvsDevice ? { ipvsDevice: env.ipvsDevice } : {}) })] };
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
  return out.join('\n') + '\n';
}
