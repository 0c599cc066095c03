import { main } from '../../cli';
import { offOnSignal, type VmSeam, withoutKernel } from '../vm-forward';

// VM forwarding is decided from the options commander parsed: `--name=x` and `--name x` mean the
// same, and the guest gets the command line as given, without --kernel. A stand-in VM here.

function standIn(inVm: string[]) {
  const calls: { what: string; lab: string; args: readonly string[]; results?: string }[] = [];
  const vms: VmSeam = {
    vmLabs: () => inVm,
    labNames: async () => [...inVm, 'ghost'],
    forwardToVm: async (lab, args, boot) => (
      calls.push({ what: 'forward', lab, args, ...(boot ? { results: boot.results } : {}) }),
      { code: 3, stdout: `in ${lab}\n`, stderr: '' }
    ),
    downVm: async (lab, args) => (calls.push({ what: 'down', lab, args }), { code: 0, stdout: `lab ${lab}: VM powered off\n`, stderr: '' }),
    stopVm: async (lab) => void calls.push({ what: 'stop', lab, args: [] }),
  };
  return { calls, vms };
}

describe('VM forwarding', () => {
  let out: string;
  beforeEach(() => {
    out = '';
    jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
    jest.spyOn(console, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => {
    jest.restoreAllMocks();
    process.exitCode = undefined;
  });

  it('drops --kernel in both forms, and nothing after --', () => {
    expect(withoutKernel(['up', '--kernel', 'vm', '-n', 'g'])).toEqual(['up', '-n', 'g']);
    expect(withoutKernel(['up', '--kernel=vm', '--name=g'])).toEqual(['up', '--name=g']);
    expect(withoutKernel(['exec', 'client', '--', 'x', '--kernel', 'vm'])).toEqual(['exec', 'client', '--', 'x', '--kernel', 'vm']);
  });

  it.each([[['status', '--name=gvm']], [['status', '--name', 'gvm']], [['status', '-n', 'gvm']]])(
    'sends a command about a lab in a VM there: %j',
    async (argv) => {
      const s = standIn(['gvm', 'gother']);
      expect(await main(argv, { vms: s.vms })).toBe(3);
      expect(s.calls).toEqual([{ what: 'forward', lab: 'gvm', args: argv }]);
      expect(out).toBe('in gvm\n');
    },
  );

  it('passes exec and connect on whole, options in either form', async () => {
    const s = standIn(['gvm']);
    expect(await main(['exec', '--name=gvm', 'client', '--', 'ip', '-br', 'addr'], { vms: s.vms })).toBe(3);
    expect(await main(['connect', 'client', '10.43.0.20:80', '--name=gvm', '-c', '10'], { vms: s.vms })).toBe(3);
    expect(s.calls.map((c) => c.args)).toEqual([
      ['exec', '--name=gvm', 'client', '--', 'ip', '-br', 'addr'],
      ['connect', 'client', '10.43.0.20:80', '--name=gvm', '-c', '10'],
    ]);
  });

  it('boots a VM for up --kernel=vm --name=x, named after the lab, and stops it when up failed inside', async () => {
    const s = standIn([]);
    expect(await main(['up', '--kernel=vm', '--name=gnew'], { vms: s.vms })).toBe(3);
    expect(s.calls).toEqual([
      { what: 'forward', lab: 'gnew', args: ['up', '--name=gnew'], results: expect.stringMatching(/\/results$/) },
      { what: 'stop', lab: 'gnew', args: [] },
    ]);
  });

  it('downs a lab in a VM with its VM', async () => {
    const s = standIn(['gvm']);
    expect(await main(['down', '--name=gvm'], { vms: s.vms })).toBe(0);
    expect(s.calls).toEqual([{ what: 'down', lab: 'gvm', args: ['down', '--name=gvm'] }]);
  });

  it('keeps the old messages for --kernel where it does not belong (exit 2, nothing forwarded)', async () => {
    const s = standIn(['gvm']);
    const err: string[] = [];
    jest.spyOn(console, 'error').mockImplementation((m: string) => void err.push(m));
    expect(await main(['status', '--kernel=vm', '--name=gvm'], { vms: s.vms })).toBe(2);
    expect(await main(['up', '--kernel', 'qemu'], { vms: s.vms })).toBe(2);
    expect(err.join('\n')).toContain("--kernel vm is for up and run; status finds the lab's VM by itself");
    expect(err.join('\n')).toContain("'qemu': expected host or vm");
    expect(s.calls).toEqual([]);
  });

  it('leaves commands about other labs, and the other verbs, to the host', async () => {
    const s = standIn(['gvm']);
    expect(await main(['plan', '--name=gvm'], { vms: s.vms })).toBe(0);
    expect(out).toContain('netns add kdl.gvm.node1');
    expect(s.calls).toEqual([]);
  });

  // The stand-in guest runs until its VM is stopped, as a real one does (the agent's socket closes).
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('powers the VM off on %s and ends %i', async (sig, code) => {
    const stopped: string[] = [];
    let kill: (e: Error) => void = () => undefined;
    const guest = new Promise<never>((_, reject) => (kill = reject));
    const vms = { stopVm: async (lab: string) => void (stopped.push(lab), kill(new Error('agent socket closed'))) };
    const f = offOnSignal('run-ab12', vms, () => guest);
    process.emit(sig, sig);
    process.emit(sig, sig); // a second one (npm's relay) changes nothing
    const r = await f;
    expect(r.code).toBe(code);
    expect(r.outputs[0]!.stderr).toBe(`interrupted (${sig}): the VM of 'run-ab12' was powered off\n`);
    expect(stopped).toEqual(['run-ab12']);
    expect(process.listenerCount(sig)).toBe(0);
  });

  it('without a signal, passes the guest on as it came', async () => {
    const r = await offOnSignal('x', { stopVm: async () => undefined }, async () => ({ code: 4, stdout: 'o', stderr: 'e' }));
    expect(r).toEqual({ outputs: [{ code: 4, stdout: 'o', stderr: 'e' }], code: 4 });
  });
});
