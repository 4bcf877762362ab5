import { createRedisConnection, sentinelOptions } from './redis-connection';

describe('createRedisConnection', () => {
  it('dials REDIS_URL as before when no sentinels are set, naming the connection after its purpose', () => {
    const c = createRedisConnection({ REDIS_URL: 'redis://:pw@10.0.0.5:6380/2' }, { purpose: 'worker', lazyConnect: true, maxRetriesPerRequest: null });
    expect(c.options).toMatchObject({ host: '10.0.0.5', port: 6380, password: 'pw', db: 2, connectionName: 'agentyard-worker', maxRetriesPerRequest: null });
    expect(c.options.sentinels).toBeFalsy();
    c.disconnect();
  });

  it('asks the sentinels for the primary of REDIS_SENTINEL_NAME, taking credentials and db from REDIS_URL', () => {
    const settings = {
      REDIS_URL: 'redis://app:s%40cret@ignored-host:6379/3',
      REDIS_SENTINELS: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }],
      REDIS_SENTINEL_NAME: 'agentyard',
      REDIS_SENTINEL_PASSWORD: 'sentinel-pw',
    };
    const c = createRedisConnection(settings, { purpose: 'api', lazyConnect: true });
    expect(c.options).toMatchObject({
      sentinels: settings.REDIS_SENTINELS,
      name: 'agentyard',
      role: 'master',
      username: 'app',
      password: 's@cret',
      sentinelPassword: 'sentinel-pw',
      db: 3,
      connectionName: 'agentyard-api',
      failoverDetector: true,
    });
    c.disconnect();
  });

  it('reconnects and resends on READONLY (a demoted primary), and fails other errors as usual', () => {
    const o = sentinelOptions({ REDIS_URL: 'redis://h:6379', REDIS_SENTINELS: [{ host: 's', port: 1 }], REDIS_SENTINEL_NAME: 'm' });
    expect(o.reconnectOnError!(new Error("READONLY You can't write against a read only replica."))).toBe(2);
    expect(o.reconnectOnError!(new Error('ERR unknown command'))).toBe(false);
    expect(o.password).toBeUndefined();
  });
});
