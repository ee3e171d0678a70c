// The fixed-rate load generator's HTTP client: a pool of kept-alive connections (the gateways),
// one request at a time on each, speaking only the HTTP/1.1 the measured servers answer with
// (a status line, headers, a body of content-length bytes or chunked).
//
// Not node:http: its client costs ~120 µs of CPU a request on this machine's cores (measured: the
// generator's own CPU column), which the load generator takes from the same two cores as the
// server it measures. A request here is one write and, usually, one read.
import net from 'node:net';

interface Request {
  bytes: Buffer;
  done: (status: number | Error) => void;
  /** Sent again once already: a kept-alive connection the server had closed meanwhile. */
  resent?: boolean;
}

export class KeepAlivePool {
  private readonly idle: Connection[] = [];
  private readonly queue: Request[] = [];
  private closing = false;
  private readonly connections: Connection[] = [];

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly size: number,
  ) {}

  /** Sends one request (headers without Host or Content-Length); resolves with the status code. */
  request(method: string, path: string, headers: Record<string, string>, body?: string): Promise<number> {
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${this.host}:${this.port}\r\n`;
    for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
    const payload = body ?? '';
    head += `content-length: ${Buffer.byteLength(payload)}\r\n\r\n`;
    const bytes = Buffer.from(head + payload);
    return new Promise((resolve, reject) => {
      const req: Request = { bytes, done: (r) => (r instanceof Error ? reject(r) : resolve(r)) };
      const conn = this.idle.pop() ?? (this.connections.length < this.size ? this.open() : undefined);
      if (conn) conn.send(req);
      else this.queue.push(req);
    });
  }

  close(): void {
    this.closing = true;
    for (const c of [...this.connections]) c.socket.destroy();
  }

  private open(): Connection {
    const conn = new Connection(net.connect({ host: this.host, port: this.port, noDelay: true }), (c) => {
      const next = this.queue.shift();
      if (next) c.send(next);
      else this.idle.push(c);
    }, (c, unanswered) => {
      // A server closes a kept-alive connection that idled past its timeout; a request sent on it
      // just then gets no answer at all. Send that one again, once, as an HTTP client does (the
      // measured requests are idempotent: a tool call's callId).
      if (unanswered && this.closing) unanswered.done(new Error('connection closed before the response'));
      else if (unanswered) this.queue.unshift(unanswered);
      // A closed connection leaves the pool; the next request opens another.
      this.connections.splice(this.connections.indexOf(c), 1);
      const i = this.idle.indexOf(c);
      if (i >= 0) this.idle.splice(i, 1);
      const next = this.closing ? undefined : this.queue.shift();
      if (next) this.open().send(next);
    });
    this.connections.push(conn);
    return conn;
  }
}

class Connection {
  private current?: Request;
  /** What has arrived of the current response, as latin1 (one char a byte: offsets are byte counts). */
  private received = '';

  /** Responses read on this connection: a request on a reused one may meet the server's idle close. */
  private answered = 0;

  constructor(
    readonly socket: net.Socket,
    private readonly free: (c: Connection) => void,
    private readonly closed: (c: Connection, unanswered?: Request) => void,
  ) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.onData(chunk));
    let unanswered: Request | undefined;
    const fail = (err?: Error) => {
      const req = this.current;
      this.current = undefined;
      if (!req) return;
      if (this.answered > 0 && this.received === '' && !req.resent) {
        req.resent = true;
        unanswered = req;
      } else {
        req.done(err ?? new Error('connection closed before the response'));
      }
    };
    socket.on('error', fail);
    socket.on('close', () => {
      fail();
      this.closed(this, unanswered);
    });
  }

  send(req: Request): void {
    this.current = req;
    this.received = '';
    this.socket.write(req.bytes);
  }

  private onData(chunk: string): void {
    this.received += chunk;
    const r = this.received;
    const end = r.indexOf('\r\n\r\n');
    if (end < 0) return;
    const length = /\r\ncontent-length: *(\d+)/i.exec(r.slice(0, end));
    const complete = length ? r.length >= end + 4 + Number(length[1]) : r.endsWith('\r\n0\r\n\r\n');
    if (!complete) return;
    const req = this.current!;
    this.current = undefined;
    this.answered++;
    req.done(Number(r.slice(9, 12)));
    this.free(this);
  }
}
