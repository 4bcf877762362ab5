import type Redis from 'ioredis';

/**
 * Ends a connection: QUIT when it is up, so Redis drops it cleanly, else at once. ioredis
 * queues a QUIT sent while it reconnects (Redis down) until it is connected again, which may
 * be never; a connection that is not up has nothing to say goodbye to.
 */
export async function quitRedis(conn: Redis): Promise<void> {
  if (conn.status !== 'ready') {
    conn.disconnect();
    return;
  }
  await conn.quit().catch(() => conn.disconnect());
}
