/**
 * A real redis-server (Debian's package) for tests: its own process on a free loopback port, no
 * persistence. Tests stop, kill, pause and restart it to play outages.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';

export class RedisServer {
  readonly port: number;
  private child: ChildProcess | undefined;

  private constructor(port: number) {
    this.port = port;
  }

  /** Starts redis-server on a free port and waits until it answers. */
  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child?.exitCode === null && this.child.signalCode === null;
  }

  /** (Re)starts the server on the same port, empty, and waits until it accepts connections. */
  async restart(): Promise<void> {
    if (this.running) return;
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
    this.child = child;
    child.on('error', () => undefined); // reported by waitForPort as a failure to start
    await waitForPort(this.port, 5_000);
  }

  /** SIGKILL: connections drop at once and every key is lost. */
  async kill(): Promise<void> {
    await this.stopWith('SIGKILL');
  }

  async stop(): Promise<void> {
    await this.stopWith('SIGTERM');
  }

  /** SIGSTOP / SIGCONT: connections stay open but nothing answers (a slow or hung Redis). */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  private async stopWith(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill(signal);
    await exited;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => {
        resolve(port);
      });
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => {
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${port} (is it installed? apt-get install redis-server)`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
