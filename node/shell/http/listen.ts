import { createServer } from 'node:http';
import type { RequestListener, Server } from 'node:http';

/**
 * Starts serving `handler` (an express app, or the node's API with its fast path), resolving once
 * it listens and rejecting when it cannot (e.g. EADDRINUSE).
 */
export function listenHttp(handler: RequestListener, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(handler);
    const failed = (err: Error): void => {
      reject(err);
    };
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve(server);
    });
  });
}
