// Lab names of a test run's own, so that two runs on one machine (two checkouts, a developer
// beside CI) do not take down each other's labs. A lab name is a DNS label of at most 32
// characters (lab/topology/schema.ts labName); namespaces are kdl.<lab>.<node>[.<pod>] and
// interface names are hashed from them, so the length only has to fit the 32.

let counter = 0;

/** `<prefix>-<4 base36 chars>` from this process's pid and a counter: unique among the processes running now. */
export function uniqueLabName(prefix: string): string {
  const id = ((process.pid * 97 + counter++) % 36 ** 4).toString(36).padStart(4, '0');
  const name = `${prefix}-${id}`;
  if (name.length > 32 || !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name)) throw new Error(`uniqueLabName: '${name}' is not a lab name`);
  return name;
}
