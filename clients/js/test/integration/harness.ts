// Starts and stops the MoltBeat server for integration tests (loopback only).
//
// The command comes from MOLTBEAT_SERVER_CMD (run with `sh -c`, cwd = clients/js); `{port}` in it is replaced
// by the chosen port, and when it has no `--urls`, ` --urls http://127.0.0.1:{port}` is appended. Default:
//   dotnet run --no-build -c Release --project ../../src/MoltBeat.Server -- --urls http://127.0.0.1:{port}
// Extra options (e.g. `--jwt-secret S`) are appended at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { MoltBeatWSClient, type WSClientConfig } from '../../src/index.js';

export const JS_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..'); // build/test/integration -> clients/js
const REPO_ROOT = resolve(JS_ROOT, '../..');
const DEFAULT_CMD = 'dotnet run --no-build -c Release --project ../../src/MoltBeat.Server -- --urls http://127.0.0.1:{port}';
const START_TIMEOUT_MS = Number(process.env.MOLTBEAT_SERVER_START_TIMEOUT_MS ?? 90_000);

/** Why integration tests cannot run here, or undefined when they can. */
export function skipReason(): string | undefined {
  if (process.env.MOLTBEAT_SERVER_CMD) return undefined;
  if (existsSync(join(REPO_ROOT, 'src/MoltBeat.Server/MoltBeat.Server.csproj'))) return undefined;
  if (process.env.MOLTBEAT_REQUIRE_SERVER === '1') return undefined; // fail loudly instead
  return 'no MoltBeat server: src/MoltBeat.Server is missing and MOLTBEAT_SERVER_CMD is not set';
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as any).port as number;
      srv.close(() => resolvePort(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every `every` ms until it is true, at most `timeout` ms. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeout = 15_000, every = 25): Promise<void> {
  const end = Date.now() + timeout;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(every);
  }
}

export interface ServerOptions {
  jwtSecret?: string;
  /** `--api-key`: publish (and the room reads) then need `X-Api-Key`; `publish()` sends it. */
  apiKey?: string;
  /** More command-line options, e.g. `['--history-events', '5']`. */
  args?: string[];
  port?: number;
}

export class TestServer {
  private proc: ChildProcess | null = null;
  private output = '';
  readonly port: number;

  private constructor(
    port: number,
    private readonly opts: ServerOptions,
  ) {
    this.port = port;
  }

  static async start(opts: ServerOptions = {}): Promise<TestServer> {
    const s = new TestServer(opts.port ?? (await freePort()), opts);
    await s.start();
    return s;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }
  get log(): string {
    return this.output;
  }

  command(): string {
    let cmd = process.env.MOLTBEAT_SERVER_CMD || DEFAULT_CMD;
    if (!cmd.includes('--urls')) cmd += ' --urls http://127.0.0.1:{port}';
    cmd = cmd.split('{port}').join(String(this.port));
    if (this.opts.jwtSecret) cmd += ` --jwt-secret ${this.opts.jwtSecret}`;
    if (this.opts.apiKey) cmd += ` --api-key ${this.opts.apiKey}`;
    for (const a of this.opts.args ?? []) cmd += ` ${a}`;
    return cmd;
  }

  async start(): Promise<void> {
    if (this.proc) throw new Error('already started');
    const proc = spawn('sh', ['-c', this.command()], {
      cwd: JS_ROOT,
      detached: true, // own process group, so that stop() also ends what `dotnet run` started
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1' },
    });
    this.proc = proc;
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-20_000);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    let exited = false;
    proc.once('exit', () => (exited = true));
    try {
      await waitFor(
        `GET ${this.httpUrl}/api/health`,
        async () => {
          if (exited) throw new Error(`server exited during start-up:\n${this.output}`);
          try {
            const r = await fetch(`${this.httpUrl}/api/health`, { signal: AbortSignal.timeout(2000) });
            return r.status === 200;
          } catch {
            return false;
          }
        },
        START_TIMEOUT_MS,
        100,
      );
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** SIGTERM to the process group (graceful: clients get 1001), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    const kill = (sig: NodeJS.Signals) => {
      try {
        process.kill(-proc.pid!, sig);
      } catch {
        /* gone */
      }
    };
    kill('SIGTERM');
    const timer = setTimeout(() => kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    // the port must be free again before a restart
    await waitFor('the port to be released', async () => !(await isListening(this.port)), 10_000, 50);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** POST /api/publish; `extra` adds fields of the body, e.g. `{ key: 'cpu' }` (revision 1.1: the conflation key). */
  async publish(room: string | string[], event: string, data: unknown, extra: Record<string, unknown> = {}): Promise<void> {
    const body = { ...(Array.isArray(room) ? { rooms: room, room: room[0], event, data } : { room, event, data }), ...extra };
    const r = await fetch(`${this.httpUrl}/api/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(this.opts.apiKey ? { 'x-api-key': this.opts.apiKey } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    if (r.status !== 200) throw new Error(`publish failed: ${r.status} ${await r.text()}`);
  }
}

async function isListening(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(500) });
    return true;
  } catch {
    return false;
  }
}

/** An HS256 JWT made with node:crypto. */
export async function makeJwt(secret: string, claims: Record<string, unknown>): Promise<string> {
  const { createHmac } = await import('node:crypto');
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(claims)}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

/** A client of `server` that reconnects after 200 ms, pings every 5 s and ignores errors (tests assert them where expected); kept in `clients` to close after the test. */
export function testClient(server: TestServer, clients: MoltBeatWSClient[], cfg: Partial<WSClientConfig> = {}): MoltBeatWSClient {
  const c = new MoltBeatWSClient({ url: server.wsUrl, reconnectInterval: 200, random: () => 1, heartbeatInterval: 5000, ...cfg });
  c.on('error', () => {});
  clients.push(c);
  return c;
}
