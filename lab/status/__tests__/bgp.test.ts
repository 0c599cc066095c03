import { parseProtocolsAll } from '../bgp';

// `birdc show protocols all` as BIRD 2.0.12 prints it (taken from a lab's node1, shortened):
// one session Established with a route imported, one Active after its peer's BIRD stopped.
const OUTPUT = `BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
blocks     Static     master4    up     01:14:19.400
  Channel ipv4
    State:          UP
    Routes:         1 imported, 0 exported, 1 preferred
device1    Device     ---        up     01:14:19.400
Mesh_192_168_205_3 BGP        ---        up     01:11:23.372  Established
  BGP state:          Established
    Neighbor address: 192.168.205.3
  Channel ipv4
    State:          UP
    Table:          master4
    Routes:         1 imported, 1 exported, 1 preferred
Mesh_192_168_205_5 BGP        ---        start  2026-12-02 01:14:20  Active        Socket: Connection refused
  BGP state:          Active
    Neighbor address: 192.168.205.5
  Channel ipv4
    State:          DOWN
`;

describe('parseProtocolsAll', () => {
  it('reads each BGP protocol: state, info (whitespace collapsed), routes imported; other protocols left out', () => {
    expect(Object.fromEntries(parseProtocolsAll(OUTPUT))).toEqual({
      Mesh_192_168_205_3: { state: 'up', info: 'Established', received: 1 },
      Mesh_192_168_205_5: { state: 'start', info: 'Active Socket: Connection refused' },
    });
  });
});
