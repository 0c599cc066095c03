import { InputError } from '../errors';
import { loadTopologyText } from '../topology/resolve';

/** The lines of the InputError a topology text is refused with (as topo.yaml); fails the test if it loads. */
export function topologyIssues(text: string): string[] {
  try {
    loadTopologyText(text, 'topo.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return (e as InputError).message.split('\n').filter((l) => l !== 'invalid input:');
  }
  throw new Error('loaded without an error');
}
