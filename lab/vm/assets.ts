import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { LabError } from '../errors';
import { type Executor, LocalExecutor } from '../runtime/executor';
import { inRepo } from '../paths';

// What the VM boots, made once and cached: Debian's stock kernel package (linux-image-<ver>,
// with ip_vs, dummy, vxlan, br_netfilter as modules) and busybox-static, fetched with
// `apt-get download` from this machine's Debian mirror and unpacked (no install, no initramfs-
// tools run: ~2 min saved); `depmod` over the unpacked tree; a ~1.5 MB busybox initramfs with
// the virtio/9p/overlay modules and lab/vm/init.sh as /init.

export const VM_CACHE = process.env.KDL_VM_CACHE ?? '/var/cache/k8s-dataplane-lab/vm';
const INIT_SCRIPT = inRepo('lab', 'vm', 'init.sh');
/** modules the initramfs loads (with their dependencies, in order) to reach the host's files */
const BOOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];

export interface VmAssets {
  version: string;
  kernel: string;
  initrd: string;
  /** lib/modules/<version> of the unpacked package, shared into the guest */
  modules: string;
}

async function need(sh: Executor, tool: string, pkg: string): Promise<void> {
  const r = await sh.run(['sh', '-c', 'command -v "$1"', 'sh', tool], { check: false });
  if (r.code !== 0)
    throw new LabError(`the VM kernel needs ${tool} (Debian package ${pkg}): apt-get install --no-install-recommends ${pkg}`, 2);
}

/** The kernel package linux-image-amd64 points at, e.g. linux-image-6.1.0-56-amd64. */
async function kernelPackage(sh: Executor): Promise<string> {
  const r = await sh.run(['apt-cache', 'depends', 'linux-image-amd64'], { check: false });
  const pkg = /Depends:\s*(linux-image-[\w.+-]+)/.exec(r.stdout)?.[1];
  if (!pkg)
    throw new LabError(
      `cannot tell which kernel linux-image-amd64 is (apt-cache depends said: ${r.stdout.trim() || r.stderr.trim()}); run apt-get update`,
      2,
    );
  return pkg;
}

export async function ensureVmAssets(
  onProgress: (line: string) => void = () => undefined,
  sh: Executor = new LocalExecutor(),
): Promise<VmAssets> {
  await need(sh, 'qemu-system-x86_64', 'qemu-system-x86');
  await need(sh, 'depmod', 'kmod');
  const pkg = await kernelPackage(sh);
  const version = pkg.replace(/^linux-image-/, '');
  const dir = join(VM_CACHE, version);
  const assets: VmAssets = {
    version,
    kernel: join(dir, 'root', 'boot', `vmlinuz-${version}`),
    initrd: join(dir, 'initrd.gz'),
    modules: join(dir, 'root', 'lib', 'modules', version),
  };
  const stamp = join(dir, 'ready');
  const initHash = readFileSync(INIT_SCRIPT, 'utf8');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === initHash) return assets;

  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'debs'), { recursive: true });
  onProgress(`vm: fetching ${pkg} and busybox-static (apt-get download)`);
  // apt's sandbox user cannot write a root-only folder; running as root is what is asked here
  await sh.run(['sh', '-c', 'cd "$1" && apt-get download -q "$2" busybox-static', 'sh', join(dir, 'debs'), pkg], {
    timeoutMs: 300_000,
    where: 'fetching the VM kernel',
  });
  for (const deb of readdirSync(join(dir, 'debs'))) {
    const into = deb.startsWith('busybox') ? join(dir, 'busybox') : join(dir, 'root');
    await sh.run(['dpkg-deb', '-x', join(dir, 'debs', deb), into], { where: `unpacking ${deb}` });
  }
  onProgress(`vm: depmod ${version}`);
  await sh.run(['depmod', '-b', join(dir, 'root'), version]);

  onProgress('vm: building the initramfs (busybox, virtio, 9p, overlay)');
  const initrd = join(dir, 'initrd');
  for (const d of ['bin', 'mods', 'proc', 'sys', 'dev', 'newroot']) mkdirSync(join(initrd, d), { recursive: true });
  copyFileSync(join(dir, 'busybox', 'bin', 'busybox'), join(initrd, 'bin', 'busybox'));
  copyFileSync(INIT_SCRIPT, join(initrd, 'init'));
  const deps = await sh.run(['modprobe', '-d', join(dir, 'root'), '-S', version, '--show-depends', '-a', ...BOOT_MODULES]);
  const files = [
    ...new Set(
      deps.stdout
        .split('\n')
        .filter((l) => l.startsWith('insmod '))
        .map((l) => l.split(/\s+/)[1]!),
    ),
  ];
  for (const f of files) copyFileSync(f, join(initrd, 'mods', basename(f)));
  writeFileSync(join(initrd, 'mods', 'order'), files.map((f) => basename(f)).join('\n') + '\n');
  await sh.run(['chmod', '755', join(initrd, 'init'), join(initrd, 'bin', 'busybox')]);
  // busybox's own cpio: Debian's cpio package is not needed
  await sh.run([
    'sh',
    '-c',
    'cd "$1" && find . | "$2" cpio -o -H newc 2>/dev/null | gzip -1 > "$3"',
    'sh',
    initrd,
    join(dir, 'busybox', 'bin', 'busybox'),
    assets.initrd,
  ]);
  rmSync(join(dir, 'debs'), { recursive: true, force: true });
  writeFileSync(stamp, initHash);
  return assets;
}
