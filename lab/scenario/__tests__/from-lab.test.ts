import { join } from 'node:path';
import { loadScenario } from '../load';

// `from: "@lab"` in a scenario, as `lab connect @lab …` takes it: it was refused at load
// ("no node or pod '@lab'") although the CLI and the trace probe took it.

describe('probes from @lab', () => {
  it('compile in the lab namespace: connect, ping and trace', () => {
    const s = loadScenario(join(__dirname, 'fixtures', 'from-lab.yaml'));
    const probes = s.steps.flatMap((st) => st.probes);
    expect(probes.map((p) => [p.kind, p.from, p.ns])).toEqual([
      ['connect', '@lab', 'kdl.default'],
      ['ping', '@lab', 'kdl.default'],
      ['trace', '@lab', 'kdl.default'],
    ]);
    expect(probes[0]).toMatchObject({ to: '192.168.205.4:32506' });
  });
});
