import { main } from '../../cli';

// Counts and durations on the command line: 0 used to mean "no limit" to capture (tcpdump -c 0)
// and a connect of no connections; both are refused before anything runs, exit 2 with the flag.

describe('counts and durations given on the command line', () => {
  let errors: string[];
  beforeEach(() => {
    errors = [];
    jest.spyOn(console, 'error').mockImplementation((s: unknown) => void errors.push(String(s)));
  });
  afterEach(() => jest.restoreAllMocks());

  test.each([
    [['capture', 'node1:eth0', '-c', '0'], '--count: must be at least 1'],
    [['capture', 'node1:eth0', '--seconds', '0'], '--seconds: must be at least 1'],
    [['capture', 'node1:eth0', '-c', '-3'], "--count: not a whole number: '-3'"],
    [['connect', 'client', '10.43.0.10:80', '-c', '0'], '--count: must be at least 1'],
  ])('%j: exit 2, %s', async (argv, said) => {
    expect(await main(argv)).toBe(2);
    expect(errors.join('\n')).toContain(said);
  });
});
