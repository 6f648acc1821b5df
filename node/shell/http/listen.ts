import type { Server } from 'node:http';
import type { Express } from 'express';

/**
 * Starts serving `app`, resolving once it listens and rejecting when it cannot (e.g. EADDRINUSE).
 * Express 5's app.listen hands a listen error to its callback instead of emitting it, so a
 * callback that ignores its argument would carry on without a server.
 */
export function listenHttp(app: Express, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (err?: Error) => {
      if (err === undefined) resolve(server);
      else reject(err);
    });
  });
}
