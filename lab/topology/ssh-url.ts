// ssh:// engine URLs, parsed without loading the ssh client (topology files name them).

/** `ssh://user@host[:port]` → target; an error text when it is not one. */
export function parseSshUrl(url: string): { user: string; host: string; port: number } | string {
  const m = /^ssh:\/\/(?:([^@/:]+)@)?([^@/:[\]]+|\[[0-9a-f:]+\])(?::(\d+))?\/?$/i.exec(url);
  if (!m) return `'${url}' is not ssh://[user@]host[:port]`;
  const port = m[3] ? Number(m[3]) : 22;
  if (port < 1 || port > 65535) return `port ${port} out of range in '${url}'`;
  return { user: m[1] ?? 'root', host: m[2]!.replace(/^\[|\]$/g, ''), port };
}
