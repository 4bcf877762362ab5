import type { Command } from 'commander';
import { CliError, EXIT } from './cli-error';
import type { ApiClient } from './http-client';

const sessionLine = (s: any) => `${s.id}  ${s.status.padEnd(7)} workspace=${s.workspace_id}  approval=${s.approval}  expires=${s.expires_at}`;
const invocationLine = (i: any) =>
  `${i.id}  ${i.tool_name}  ${i.status}${i.exit_code !== null && i.exit_code !== undefined ? `  exit=${i.exit_code}` : ''}${i.duration_ms !== null ? `  ${i.duration_ms} ms` : ''}${i.error ? `  ${i.error.code}: ${i.error.message}` : ''}`;

/**
 * `yardctl sessions create|get|tools|invoke|close`: direct tool invocation (/v1/sessions).
 * `invoke` exits 0 when the invocation succeeded, 1 when it ran and failed, 3 when the API
 * refused it (428, 403, 429: the error says which).
 */
export function registerSessionCommands(
  program: Command,
  io: { api(): ApiClient; print(value: unknown, human: () => string): void; parseJson(text: string, what: string): unknown },
): void {
  const sessions = program.command('sessions').description('open sessions and invoke tools one by one (/v1/sessions)');
  const id = (s: string) => encodeURIComponent(s);
  sessions
    .command('create')
    .description('open a session; prints its id')
    .option('--id <session_id>', 'choose the id (session-…, per tenant); one this tenant holds already is refused')
    .option('--workspace <id>', 'workspace id (shared with runs of the same id)')
    .option('--approval <mode>', 'never | writes | all (default writes)')
    .option('--allowed-path <dir...>', 'restrict tools to these workspace directories')
    .option('--expires-in <s>', 'lifetime in seconds (default 3600)')
    .option('--metadata <json>', 'a JSON object kept with the session')
    .action(async (o) => {
      const body = {
        ...(o.id ? { session_id: o.id } : {}),
        ...(o.workspace ? { workspace_id: o.workspace } : {}),
        ...(o.approval ? { approval: o.approval } : {}),
        ...(o.allowedPath ? { allowed_paths: o.allowedPath } : {}),
        ...(o.expiresIn ? { expires_in_seconds: Number(o.expiresIn) } : {}),
        ...(o.metadata ? { metadata: io.parseJson(o.metadata, '--metadata') } : {}),
      };
      const { session } = await io.api().request('POST', '/v1/sessions', body);
      io.print(session, () => sessionLine(session));
    });
  sessions.command('get <session_id>').description('show a session').action(async (sid: string) => {
    const { session } = await io.api().request('GET', `/v1/sessions/${id(sid)}`);
    io.print(session, () => sessionLine(session));
  });
  sessions.command('tools <session_id>').description("list the session's tools with their risk and approval").action(async (sid: string) => {
    const r = await io.api().request('GET', `/v1/sessions/${id(sid)}/tools`);
    io.print(r, () =>
      r.tools.map((t: any) => `${t.name.padEnd(12)} risk=${t.risk_level.padEnd(6)} side_effects=${t.side_effects.padEnd(12)} timeout=${t.constraints.timeout_seconds}s  ${t.description.split('.')[0]}`).join('\n'),
    );
  });
  sessions
    .command('invoke <session_id> <tool>')
    .description('invoke a tool in the session and print the invocation (exit 1 if it failed)')
    .option('--args <json>', 'the tool arguments as a JSON object', '{}')
    .option('--approved', 'approve a tool that needs approval in this session')
    .option('--correlation-id <id>', 'the same id again returns the same invocation instead of running it twice')
    .option('--no-wait', 'answer at once (status running); read it later with GET /v1/invocations/:id')
    .action(async (sid: string, tool: string, o) => {
      const body = { args: io.parseJson(o.args, '--args'), ...(o.approved ? { approved: true } : {}), ...(o.correlationId ? { correlation_id: o.correlationId } : {}) };
      const { invocation } = await io.api().request('POST', `/v1/sessions/${id(sid)}/tools/${id(tool)}/invoke${o.wait === false ? '?wait=false' : ''}`, body);
      io.print(invocation, () => [invocationLine(invocation), ...(invocation.output !== null ? [JSON.stringify(invocation.output, null, 2)] : [])].join('\n'));
      if (invocation.status === 'failed') process.exitCode = EXIT.runFailed;
    });
  sessions.command('close <session_id>').description('close a session').action(async (sid: string) => {
    const r = await io.api().request('DELETE', `/v1/sessions/${id(sid)}`);
    if (r?.closed !== true) throw new CliError(`the API did not confirm closing ${sid}`, EXIT.unavailable);
    io.print(r, () => `${sid} closed`);
  });
}
