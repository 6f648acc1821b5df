/**
 * The benchmarks' HTTP/1.1 client: keep-alive connections, one request at a time on each (what
 * wrk does), the body read by Content-Length, chunked transfer coding, or the connection's end.
 *
 * Why not node:http's client: under the 64-client loads it spent 68-90 µs of CPU per request on
 * this two-core machine, against 32 for this one, and that CPU is taken from the nodes being
 * measured (docs/benchmarks.md, "The load generator"). A benchmark's client should be the lightest
 * part of the run, as it would be on a machine of its own.
 *
 * It only speaks what the benchmarks need: no pipelining, no redirects, no Expect: 100-continue,
 * no TLS. Anything it cannot parse ends that connection and answers status 0, like a network error.
 */
import net from 'node:net';

export interface HttpAnswer {
  /** The response's status code; 0 when no complete response arrived (network or protocol error). */
  readonly status: number;
  readonly body: string;
}

const FAILED: HttpAnswer = { status: 0, body: '' };
const HEAD_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
/** A response head larger than this is refused: the servers measured send a few hundred bytes. */
const MAX_HEAD_BYTES = 64 * 1024;

/** How the body of the response being read ends. */
type Framing = { readonly kind: 'length'; readonly bytes: number } | { readonly kind: 'chunked' } | { readonly kind: 'close' };

interface Head {
  readonly status: number;
  readonly framing: Framing;
  /** The server will close the connection after this response (or the client must). */
  readonly close: boolean;
  readonly bodyStart: number;
}

/** One TCP connection to `host:port`; `request` must not be called again before it settles. */
export class HttpConnection {
  readonly host: string;
  readonly port: number;
  private readonly socket: net.Socket;
  private buffered: Buffer = Buffer.alloc(0);
  private head: Head | undefined;
  private pending: { readonly resolve: (a: HttpAnswer) => void; readonly method: string } | undefined;
  private closed = false;

  constructor(host: string, port: number) {
    this.host = host;
    this.port = port;
    this.socket = net.connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      this.parse(false);
    });
    this.socket.on('end', () => {
      this.parse(true);
      this.fail();
    });
    this.socket.on('error', () => {
      this.fail();
    });
    this.socket.on('close', () => {
      this.fail();
    });
  }

  /** False once the connection has ended: a closed connection answers every request with status 0. */
  get usable(): boolean {
    return !this.closed;
  }

  request(method: string, path: string, body?: string): Promise<HttpAnswer> {
    if (this.pending !== undefined) throw new Error('one request at a time on a connection');
    if (this.closed) return Promise.resolve(FAILED);
    return new Promise<HttpAnswer>((resolve) => {
      this.pending = { resolve, method };
      const head = `${method} ${path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\n`;
      this.socket.write(body === undefined ? `${head}\r\n` : `${head}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  }

  close(): void {
    this.socket.destroy();
    this.fail();
  }

  private parse(ended: boolean): void {
    const pending = this.pending;
    if (pending === undefined) {
      // Bytes nobody asked for: the stream is out of step with our requests.
      if (this.buffered.length > 0) this.close();
      return;
    }
    if (this.head === undefined) {
      const end = this.buffered.indexOf(HEAD_END);
      if (end < 0) {
        if (this.buffered.length > MAX_HEAD_BYTES) this.close();
        return;
      }
      const head = parseHead(this.buffered.toString('latin1', 0, end), end + HEAD_END.length, pending.method);
      if (head === undefined) {
        this.close();
        return;
      }
      this.head = head;
    }
    const { framing, bodyStart } = this.head;
    let body: string;
    let consumed: number;
    if (framing.kind === 'length') {
      if (this.buffered.length - bodyStart < framing.bytes) return;
      consumed = bodyStart + framing.bytes;
      body = this.buffered.toString('utf8', bodyStart, consumed);
    } else if (framing.kind === 'chunked') {
      const chunked = readChunked(this.buffered, bodyStart);
      if (chunked === 'incomplete') return;
      if (chunked === 'malformed') {
        this.close();
        return;
      }
      ({ body, consumed } = chunked);
    } else {
      if (!ended) return;
      consumed = this.buffered.length;
      body = this.buffered.toString('utf8', bodyStart);
    }
    const status = this.head.status;
    const close = this.head.close || this.buffered.length > consumed;
    this.buffered = Buffer.alloc(0);
    this.head = undefined;
    this.pending = undefined;
    if (close) this.close();
    pending.resolve({ status, body });
  }

  private fail(): void {
    this.closed = true;
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve(FAILED);
  }
}

function parseHead(text: string, bodyStart: number, method: string): Head | undefined {
  const lines = text.split('\r\n');
  const statusLine = /^HTTP\/1\.([01]) ([1-9]\d\d) /.exec(`${lines[0] ?? ''} `);
  if (statusLine === null) return undefined;
  const status = Number(statusLine[2]);
  // Interim (1xx) responses are not expected: nothing here sends Expect or upgrades.
  if (status < 200) return undefined;
  let length: number | undefined;
  let chunked = false;
  let close = statusLine[1] === '0';
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim().toLowerCase();
    if (name === 'content-length') {
      if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value))) return undefined;
      length = Number(value);
    } else if (name === 'transfer-encoding') chunked = value.split(',').at(-1)?.trim() === 'chunked';
    else if (name === 'connection') close = value.split(',').some((t) => t.trim() === 'close') || (close && !value.includes('keep-alive'));
  }
  // RFC 9112 §6.3: no body after HEAD, 204 and 304; Transfer-Encoding wins over Content-Length.
  if (method === 'HEAD' || status === 204 || status === 304) return { status, framing: { kind: 'length', bytes: 0 }, close, bodyStart };
  if (chunked) return { status, framing: { kind: 'chunked' }, close, bodyStart };
  if (length !== undefined) return { status, framing: { kind: 'length', bytes: length }, close, bodyStart };
  return { status, framing: { kind: 'close' }, close: true, bodyStart };
}

/** A chunked body from `start`: complete (with the bytes through its last CRLF), incomplete, or malformed. */
function readChunked(buf: Buffer, start: number): { readonly body: string; readonly consumed: number } | 'incomplete' | 'malformed' {
  const parts: Buffer[] = [];
  let at = start;
  for (;;) {
    const eol = buf.indexOf(CRLF, at);
    if (eol < 0) return buf.length - at > 1024 ? 'malformed' : 'incomplete';
    const sizeText = buf.toString('latin1', at, eol).split(';')[0]?.trim() ?? '';
    if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) return 'malformed';
    const size = parseInt(sizeText, 16);
    if (size === 0) {
      // Trailer fields, if any, then the empty line that ends the message.
      let line = eol + CRLF.length;
      for (;;) {
        const next = buf.indexOf(CRLF, line);
        if (next < 0) return 'incomplete';
        if (next === line) return { body: Buffer.concat(parts).toString('utf8'), consumed: next + CRLF.length };
        line = next + CRLF.length;
      }
    }
    const dataEnd = eol + CRLF.length + size;
    if (buf.length < dataEnd + CRLF.length) return 'incomplete';
    if (buf[dataEnd] !== 0x0d || buf[dataEnd + 1] !== 0x0a) return 'malformed';
    parts.push(buf.subarray(eol + CRLF.length, dataEnd));
    at = dataEnd + CRLF.length;
  }
}

/**
 * Keep-alive connections by host and port, the way node:http's Agent keeps them: a request takes
 * an idle connection or opens one, and gives it back when its answer is complete.
 */
export class HttpConnectionPool {
  private readonly idle = new Map<string, HttpConnection[]>();
  private readonly all = new Set<HttpConnection>();

  async request(host: string, port: number, method: string, path: string, body?: string): Promise<HttpAnswer> {
    const key = `${host}:${port}`;
    const idle = this.idle.get(key) ?? [];
    this.idle.set(key, idle);
    let connection = idle.pop();
    while (connection !== undefined && !connection.usable) {
      this.all.delete(connection);
      connection = idle.pop();
    }
    if (connection === undefined) {
      connection = new HttpConnection(host, port);
      this.all.add(connection);
    }
    const answer = await connection.request(method, path, body);
    if (connection.usable) idle.push(connection);
    else this.all.delete(connection);
    return answer;
  }

  /** Closes every connection; requests in flight answer status 0. */
  destroy(): void {
    for (const c of this.all) c.close();
    this.all.clear();
    this.idle.clear();
  }
}
