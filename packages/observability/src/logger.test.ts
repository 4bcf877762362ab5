import { Writable } from 'node:stream';
import { createLogger } from './logger';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, destination };
}

describe('createLogger', () => {
  it('never writes a configured secret, whether in a message, a field, an error or a header', () => {
    const { lines, destination } = capture();
    const log = createLogger({ level: 'info', name: 't', secrets: ['tok_super_secret'], destination });
    log.info('token is tok_super_secret');
    log.info({ url: '/stream?access_token=tok_super_secret' }, 'request');
    log.error({ err: new Error('auth failed for tok_super_secret') }, 'boom');
    log.info({ req: { headers: { authorization: 'Bearer whatever-else' } } }, 'headers');
    const out = lines.join('');
    expect(out).not.toContain('tok_super_secret');
    expect(out).not.toContain('whatever-else');
    expect(out.match(/\[redacted\]/g)?.length).toBeGreaterThanOrEqual(4);
  });
});
