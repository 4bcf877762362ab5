import { randomBytes } from 'node:crypto';
import { CliError, EXIT } from './cli-error';
import type { ApiClient } from './http-client';
import { tailRun } from './sse-tail';

/**
 * A post-deploy gate: each check prints its line as it passes; the first failure stops
 * with `SMOKE_FAILED:<check>: <reason>` on stderr and exit 1.
 */
export async function smoke(api: ApiClient, out: (line: string) => void, timeoutMs: number): Promise<void> {
  let check = 'health';
  const deadline = Date.now() + timeoutMs;
  const within = <T>(p: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), Math.max(0, deadline - Date.now()));
    });
    return Promise.race([p, limit]).finally(() => clearTimeout(timer));
  };
  try {
    await within(api.request('GET', '/healthz'));
    await within(api.request('GET', '/readyz'));
    out('health_ok');

    // The seed workspace service's session flow: a session, its tools, a write read back, closed.
    check = 'session_created';
    const content = `smoke ${randomBytes(8).toString('hex')}`;
    const sid: string = (await within(api.request('POST', '/v1/sessions', { expires_in_seconds: 600, metadata: { purpose: 'smoke' } }))).session.id;
    out(`session_created:${sid}`);

    check = 'tools';
    const tools = (await within(api.request('GET', `/v1/sessions/${sid}/tools`))).tools.map((t: { name: string }) => t.name);
    for (const t of ['fs.read', 'fs.write']) if (!tools.includes(t)) throw new Error(`tool ${t} is missing`);
    out('tools_ok');

    check = 'fs_write';
    const invoke = async (tool: string, body: unknown) => {
      const inv = (await within(api.request('POST', `/v1/sessions/${sid}/tools/${tool}/invoke`, body))).invocation;
      if (inv.status !== 'succeeded') throw new Error(`${tool} ended ${inv.status}: ${JSON.stringify(inv.error)}`);
      return inv;
    };
    await invoke('fs.write', { args: { path: 'smoke/session.txt', content }, approved: true });
    out('fs_write_ok');

    check = 'fs_read';
    if ((await invoke('fs.read', { args: { path: 'smoke/session.txt' } })).output?.content !== content) throw new Error('fs.read returned something else than fs.write wrote');
    out('fs_read_ok');

    check = 'session_closed';
    if ((await within(api.request('DELETE', `/v1/sessions/${sid}`))).closed !== true) throw new Error('the session did not say closed');
    out('session_closed');

    // A run through the queue: the same files written and read by steps, then its stream.
    check = 'run_created';
    const created = await within(
      api.request('POST', '/agent/execute', {
        action: 'create',
        start: true,
        steps: [
          { id: 'list', tool: 'fs.list', args: {} },
          { id: 'write', tool: 'fs.write', args: { path: 'smoke.txt', content }, needs: ['list'] },
          { id: 'read', tool: 'fs.read', args: { path: 'smoke.txt' }, needs: ['write'] },
        ],
      }),
    );
    const runId: string = created.run_id;
    out(`run_created:${runId}`);

    check = 'run';
    let run: any;
    while (!['succeeded', 'dead_lettered', 'cancelled'].includes((run = await within(api.request('GET', `/agent/runs/${runId}`))).status)) {
      await new Promise((r) => setTimeout(r, 200));
    }
    if (run.status !== 'succeeded') throw new Error(`run ended ${run.status}: ${JSON.stringify(run.error)}`);
    const file = await within(api.request('GET', `/agent/runs/${runId}/files/smoke.txt`));
    if (file !== content) throw new Error('smoke.txt does not hold what was written');
    if (run.steps.find((s: { id: string }) => s.id === 'read')?.output?.content !== content) throw new Error('the fs.read step returned something else');

    check = 'stream';
    const end = await within(tailRun({ apiUrl: api.apiUrl, ...(api.token ? { token: api.token } : {}), runId, onEvent: () => undefined, maxReconnects: 2 }));
    if (end?.data.status !== 'succeeded') throw new Error('the stream did not end with status succeeded');
    out('stream_ok');
    out('SMOKE_OK');
  } catch (e) {
    throw new CliError(`SMOKE_FAILED:${check}: ${(e as Error).message.split('\n')[0]}`, EXIT.runFailed);
  }
}
