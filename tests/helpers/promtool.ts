import { spawnSync } from 'node:child_process';

const runs = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

/**
 * Prometheus's promtool, to check and unit-test the alert rules for real. PROMTOOL, or
 * `promtool` on PATH; failing both, as root on Debian/Ubuntu it installs the `prometheus`
 * package (which carries promtool), as scripts/test does before jest. Returns why not otherwise.
 */
export function findPromtool(): { path: string } | { missing: string } {
  const candidates = [process.env.PROMTOOL, 'promtool'].filter((c): c is string => !!c);
  const found = () => candidates.find((c) => runs(c, ['--version']));
  const first = found();
  if (first) return { path: first };
  if (process.getuid?.() !== 0 || !runs('apt-get', ['--version'])) {
    return { missing: 'promtool is not installed (Debian/Ubuntu: apt-get install prometheus; or set PROMTOOL to its path)' };
  }
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', '-o', 'DPkg::Lock::Timeout=120', 'prometheus'], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 300_000,
    }).status === 0;
  if (!install()) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', timeout: 300_000 });
    install();
  }
  const installed = found();
  return installed ? { path: installed } : { missing: 'promtool is missing and `apt-get install prometheus` did not provide it' };
}
