import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { apiEntry } = require('../../scripts/bench/support');

const root = join(__dirname, '..', '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');
const flags: string[] = JSON.parse(read('apps/api/package.json')).agentyard.nodeFlags;

/**
 * The API's memory figures (README "Memory of the API process") hold for the API launched with
 * these flags; a launcher that drops them runs a different process than the one measured.
 */
describe("the API's node flags", () => {
  it('cap the young generation', () => {
    expect(flags).toContain('--max-semi-space-size=8');
  });

  it('are passed by every launcher of the API', () => {
    const dockerApi = read('docker/Dockerfile').split('FROM runtime AS api')[1]!.split('FROM runtime AS')[0]!;
    const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerApi)![1]!) as string[];
    expect(entrypoint.slice(entrypoint.indexOf('node'), -1)).toEqual(expect.arrayContaining(flags));
    expect(JSON.parse(read('apps/api/package.json')).scripts.start).toBe(`node ${flags.join(' ')} dist/main.js`);
    // scripts/dev and check-deploy read the list from package.json rather than repeating it.
    expect(read('scripts/dev')).toMatch(/node \$\(node -p "require\('\.\/apps\/api\/package\.json'\)\.agentyard\.nodeFlags\.join\(' '\)"\) apps\/api\/dist\/main\.js/);
    expect(read('scripts/check-deploy')).toMatch(/exec node \$\(node -p "require\('\.\/package\.json'\)\.agentyard\.nodeFlags\.join\(' '\)"\) dist\/main\.js/);
    expect(apiEntry()).toEqual([...flags, join(root, 'apps', 'api', 'dist', 'main.js')]);
  });

  it('can be replaced for an A/B in the bench', () => {
    process.env.BENCH_API_NODE_FLAGS = ' ';
    try {
      expect(apiEntry()).toEqual([join(root, 'apps', 'api', 'dist', 'main.js')]);
    } finally {
      delete process.env.BENCH_API_NODE_FLAGS;
    }
  });
});
