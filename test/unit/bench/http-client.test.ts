import { afterEach, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { HttpConnection, HttpConnectionPool } from '../../../bench/http-client.ts';

const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function listen(server: net.Server): Promise<number> {
  servers.push(server);
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A node:http server that echoes what it got and counts the connections it accepted. */
async function echoServer(): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const got = JSON.stringify({ method: req.method, url: req.url, type: req.headers['content-type'] ?? null, body: Buffer.concat(chunks).toString('utf8') });
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(got.slice(0, 10));
        setTimeout(() => res.end(got.slice(10)), 5);
      } else if (req.url === '/empty') {
        res.writeHead(204).end();
      } else if (req.url === '/close') {
        res.writeHead(200, { connection: 'close', 'content-type': 'application/json' }).end(got);
      } else {
        res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' }).end(got);
      }
    });
  });
  server.on('connection', () => connections++);
  return { port: await listen(server), connections: () => connections };
}

/** A TCP server that answers each connection's first request with `response`, in pieces. */
async function scriptedServer(response: readonly string[], then: 'keep' | 'end' | 'destroy' = 'keep'): Promise<number> {
  const server = net.createServer((socket) => {
    socket.once('data', () => {
      void (async () => {
        for (const piece of response) {
          socket.write(piece);
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        if (then === 'end') socket.end();
        if (then === 'destroy') socket.destroy();
      })();
    });
  });
  return listen(server);
}

describe('the benchmarks HTTP client', () => {
  it('sends requests with their bodies and reads Content-Length answers, several on one keep-alive connection', async () => {
    const { port, connections } = await echoServer();
    const pool = new HttpConnectionPool();
    const post = await pool.request('127.0.0.1', port, 'POST', '/v1/streams/a/events', '{"v":"é"}');
    expect(post.status).toBe(201);
    expect(JSON.parse(post.body)).toEqual({ method: 'POST', url: '/v1/streams/a/events', type: 'application/json', body: '{"v":"é"}' });
    const get = await pool.request('127.0.0.1', port, 'GET', '/x?y=1');
    expect(get.status).toBe(200);
    expect(JSON.parse(get.body)).toEqual({ method: 'GET', url: '/x?y=1', type: null, body: '' });
    expect((await pool.request('127.0.0.1', port, 'GET', '/empty')).status).toBe(204);
    expect(connections()).toBe(1);
    pool.destroy();
  });

  it('reads chunked answers, and answers that arrive a few bytes at a time', async () => {
    const { port } = await echoServer();
    const pool = new HttpConnectionPool();
    const chunked = await pool.request('127.0.0.1', port, 'POST', '/chunked', '{"a":1}');
    expect(JSON.parse(chunked.body)).toMatchObject({ url: '/chunked', body: '{"a":1}' });
    pool.destroy();

    const text = 'HTTP/1.1 409 Conflict\r\nContent-Type: application/problem+json\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\nX-Trailer: t\r\n\r\n';
    const piecemeal = await scriptedServer(text.match(/[\s\S]{1,7}/g) ?? []);
    const answer = await new HttpConnectionPool().request('127.0.0.1', piecemeal, 'GET', '/');
    expect(answer).toEqual({ status: 409, body: 'abcdefg' });
  });

  it('opens a new connection after Connection: close, and after the server hung up an idle one', async () => {
    const { port, connections } = await echoServer();
    const pool = new HttpConnectionPool();
    expect((await pool.request('127.0.0.1', port, 'GET', '/close')).status).toBe(200);
    expect((await pool.request('127.0.0.1', port, 'GET', '/')).status).toBe(200);
    expect(connections()).toBe(2);

    const once = await scriptedServer(['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'], 'end');
    expect(await pool.request('127.0.0.1', once, 'GET', '/')).toEqual({ status: 200, body: 'ok' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    // The idle connection was closed by the server meanwhile: a fresh one takes the request.
    expect(await pool.request('127.0.0.1', once, 'GET', '/')).toEqual({ status: 200, body: 'ok' });
    pool.destroy();
  });

  it('reads a body that ends with the connection when the answer has no length', async () => {
    const port = await scriptedServer(['HTTP/1.0 200 OK\r\n\r\nall of ', 'it'], 'end');
    expect(await new HttpConnection('127.0.0.1', port).request('GET', '/')).toEqual({ status: 200, body: 'all of it' });
  });

  it('answers status 0 to a refused connection, a cut answer and a malformed one, and the pool recovers', async () => {
    const refused = await listen(net.createServer());
    await new Promise((resolve) => servers.pop()?.close(resolve));
    const pool = new HttpConnectionPool();
    expect(await pool.request('127.0.0.1', refused, 'GET', '/')).toEqual({ status: 0, body: '' });

    const cut = await scriptedServer(['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'], 'destroy');
    expect(await pool.request('127.0.0.1', cut, 'GET', '/')).toEqual({ status: 0, body: '' });

    for (const bad of ['HTTP/2 200 OK\r\n\r\n', 'HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'HTTP/1.1 100 Continue\r\n\r\n']) {
      const port = await scriptedServer([bad]);
      expect(await pool.request('127.0.0.1', port, 'GET', '/')).toEqual({ status: 0, body: '' });
    }

    const { port } = await echoServer();
    expect((await pool.request('127.0.0.1', port, 'GET', '/')).status).toBe(200);
    pool.destroy();
  });

  it('refuses a second request on a connection before the first is answered', async () => {
    const { port } = await echoServer();
    const c = new HttpConnection('127.0.0.1', port);
    const first = c.request('GET', '/');
    expect(() => c.request('GET', '/')).toThrow('one request at a time');
    expect((await first).status).toBe(200);
    c.close();
    expect(c.usable).toBe(false);
    expect(await c.request('GET', '/')).toEqual({ status: 0, body: '' });
  });
});
