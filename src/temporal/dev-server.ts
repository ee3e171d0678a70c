// Runs the real Temporal dev server (the CLI's `server start-dev`) as a child process: for
// `npm start` (persistent SQLite file) and the test run (in memory). Never a mock.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../../workflows/messages';

const ROOT = path.resolve(__dirname, '..', '..', __dirname.includes(`${path.sep}dist${path.sep}`) ? '..' : '');

export interface DevServer {
  address: string;
  uiUrl?: string;
  /** The server's process id (the memory bench reads its resident size). */
  pid?: number;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  namespace: string;
  /** Persist to this SQLite file; in memory when undefined. */
  dbFile?: string;
  port?: number;
  uiPort?: number;
  headless?: boolean;
  log?: (line: string) => void;
}

/** The CLI binary: `temporal` on PATH, the project's .tools build, or built now (scripts/temporal-cli.sh). */
export async function resolveTemporalCli(log: (line: string) => void = () => undefined): Promise<string> {
  const script = path.join(ROOT, 'scripts', 'temporal-cli.sh');
  const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => d.toString().split('\n').filter(Boolean).forEach(log));
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  if (code !== 0) throw new Error(`could not get a Temporal CLI (scripts/temporal-cli.sh exited ${code})`);
  return out.trim().split('\n').pop()!;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const log = opts.log ?? (() => undefined);
  const cli = await resolveTemporalCli(log);
  const port = opts.port ?? (await freePort());
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--namespace', opts.namespace];
  args.push('--log-level', 'error');
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);
  let uiUrl: string | undefined;
  if (opts.headless ?? true) args.push('--headless');
  else {
    const uiPort = opts.uiPort ?? (await freePort());
    args.push('--ui-port', String(uiPort));
    uiUrl = `http://127.0.0.1:${uiPort}`;
  }
  const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // A process that ends without stopping it (process.exit, an uncaught error) takes it along:
  // otherwise an orphaned server keeps running, holding its port and its SQLite file.
  const orphaned = () => child.kill('SIGKILL');
  process.once('exit', orphaned);
  child.once('exit', () => process.removeListener('exit', orphaned));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  child.stdout.resume();
  const address = `127.0.0.1:${port}`;
  try {
    await waitUntilServing(address, opts.namespace, child, () => stderr);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  return { address, uiUrl, pid: child.pid, stop: () => stopChild(child) };
}

async function waitUntilServing(address: string, namespace: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? -1));
  for (;;) {
    if (exited !== null) throw new Error(`temporal dev server exited with ${exited}: ${stderr()}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.describeNamespace({ namespace });
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`temporal dev server at ${address} not ready after 60 s: ${String(err)} ${stderr()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
