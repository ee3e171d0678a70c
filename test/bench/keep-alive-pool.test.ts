// The fixed-rate load generator's client against a real Node.js server on loopback: what it counts
// (status codes, errors) is what the bench's rows report, so it must read responses as HTTP does.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KeepAlivePool } from '../../bench/keep-alive-pool';

describe('KeepAlivePool', () => {
  let server: http.Server;
  let pool: KeepAlivePool;
  const sockets = new Set<unknown>();
  const seen: { method: string; url: string; auth?: string; body: string }[] = [];
  const dropped = new Set<string>();

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body });
        sockets.add(req.socket);
        if (req.url === '/chunked') {
          res.write('{"part":');
          setImmediate(() => res.end('1}'));
        } else if (req.url === '/drop' || (req.url === '/drop-once' && !dropped.has(req.url))) {
          dropped.add(req.url!);
          req.socket.destroy();
        } else if (req.url === '/slow') {
          setTimeout(() => res.end('{}'), 20);
        } else {
          res.statusCode = req.url === '/missing' ? 404 : 200;
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ echo: body, padding: 'x'.repeat(70_000) })); // spans several reads
        }
      });
    });
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    pool = new KeepAlivePool('127.0.0.1', (server.address() as AddressInfo).port, 2);
  });

  afterAll(async () => {
    pool.close();
    server.closeAllConnections();
    await new Promise((closed) => server.close(closed));
  });

  beforeEach(() => {
    seen.length = 0;
    sockets.clear();
  });

  it('sends method, path, headers and body, and resolves with the status once the whole body has arrived', async () => {
    const body = JSON.stringify({ callId: 'c-ü', toolId: 't' });
    await expect(pool.request('POST', '/v1/x', { authorization: 'Bearer t0k', 'content-type': 'application/json' }, body)).resolves.toBe(200);
    await expect(pool.request('GET', '/missing', {})).resolves.toBe(404);
    await expect(pool.request('GET', '/chunked', {})).resolves.toBe(200);
    expect(seen).toEqual([
      { method: 'POST', url: '/v1/x', auth: 'Bearer t0k', body },
      { method: 'GET', url: '/missing', auth: undefined, body: '' },
      { method: 'GET', url: '/chunked', auth: undefined, body: '' },
    ]);
    // One request at a time, so every one of them reused the same kept-alive connection.
    expect(sockets.size).toBe(1);
  });

  it('holds requests beyond its connections until one is free, never opening more', async () => {
    const statuses = await Promise.all(Array.from({ length: 6 }, () => pool.request('GET', '/slow', {})));
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    expect(sockets.size).toBeLessThanOrEqual(2);
  });

  it('sends a request again, once, when the kept-alive connection it went on closes without a byte of answer', async () => {
    await expect(pool.request('GET', '/warm', {})).resolves.toBe(200); // the connection has been used
    await expect(pool.request('GET', '/drop-once', {})).resolves.toBe(200);
    expect(seen.map((s) => s.url)).toEqual(['/warm', '/drop-once', '/drop-once']);
  });

  it('rejects a request that twice got no answer, and goes on over a new connection', async () => {
    await expect(pool.request('GET', '/drop', {})).rejects.toThrow();
    await expect(pool.request('GET', '/after', {})).resolves.toBe(200);
    expect(seen.map((s) => s.url)).toEqual(['/drop', '/drop', '/after']);
  });
});
