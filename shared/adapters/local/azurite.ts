import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { AppError } from '../../domain/errors.js';

/** Azurite's well-known development account: public, documented, and only ever valid against the emulator. */
const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface RunningAzurite {
  readonly connectionString: string;
  readonly port: number;
  stop(): Promise<void>;
}

export interface StartAzuriteOptions {
  /** A folder to keep tables in across runs; in memory when absent. */
  readonly location?: string;
  readonly port?: number;
  readonly startTimeoutMs?: number;
}

export function azuriteConnectionString(port: number, host = '127.0.0.1'): string {
  return `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};TableEndpoint=http://${host}:${port}/${DEV_ACCOUNT};`;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Whether something accepts connections on this loopback port (a started emulator, or one left running). */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts the Azurite Table service from this project's own node_modules, on loopback, with telemetry off
 * (it would otherwise try to reach the internet), and waits until it accepts connections.
 */
export async function startAzurite(options: StartAzuriteOptions = {}): Promise<RunningAzurite> {
  const port = options.port ?? (await freePort());
  const stop = await startAzuriteService('table', port, options);
  return { connectionString: azuriteConnectionString(port), port, stop };
}

export function azuriteBlobConnectionString(port: number, host = '127.0.0.1'): string {
  return `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=http://${host}:${port}/${DEV_ACCOUNT};`;
}

/** Azurite's Blob service, the same way: where a local run or a test finds Cost Management's exports. */
export async function startAzuriteBlob(options: StartAzuriteOptions = {}): Promise<RunningAzurite> {
  const port = options.port ?? (await freePort());
  const stop = await startAzuriteService('blob', port, options);
  return { connectionString: azuriteBlobConnectionString(port), port, stop };
}

export function azuriteQueueConnectionString(port: number, host = '127.0.0.1'): string {
  return `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};QueueEndpoint=http://${host}:${port}/${DEV_ACCOUNT};`;
}

/** Azurite's Queue service, the same way: where a local close's work items travel (docs/fan-out.md). */
export async function startAzuriteQueue(options: StartAzuriteOptions = {}): Promise<RunningAzurite> {
  const port = options.port ?? (await freePort());
  const stop = await startAzuriteService('queue', port, options);
  return { connectionString: azuriteQueueConnectionString(port), port, stop };
}

async function startAzuriteService(service: 'table' | 'blob' | 'queue', port: number, options: StartAzuriteOptions): Promise<() => Promise<void>> {
  const require = createRequire(import.meta.url);
  const entry = path.join(path.dirname(require.resolve('azurite/package.json')), 'dist', 'src', service, 'main.js');
  const args = [entry, `--${service}Host`, '127.0.0.1', `--${service}Port`, String(port), '--disableTelemetry', '--skipApiVersionCheck', '--silent'];
  if (options.location) {
    mkdirSync(options.location, { recursive: true });
    args.push('--location', options.location);
  } else {
    args.push('--inMemoryPersistence');
  }
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_NO_WARNINGS: '1' } });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });

  const stop = () =>
    new Promise<void>((resolve) => {
      running.delete(stop);
      if (running.size === 0) removeCleanup();
      if (exited) return resolve();
      child.once('exit', () => resolve());
      // Azurite saves its tables and exits cleanly on SIGINT only; SIGTERM would lose the last writes.
      child.kill('SIGINT');
      setTimeout(() => {
        if (!exited) child.kill('SIGKILL');
      }, 3000).unref();
    });
  // Registered before the wait: a signal while Azurite is still starting must stop it too.
  running.set(stop, () => {
    if (!exited) child.kill('SIGINT');
  });
  installCleanup();

  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
  while (!(await canConnect(port))) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new AppError('STORAGE_FAILED', `Azurite did not start on port ${port}${stderr ? `: ${stderr.trim()}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return stop;
}

/**
 * The Azurites this process started, so they go with it: on SIGINT or SIGTERM (when nothing else handles the
 * signal, the process stops them and exits as the signal would have), and on any exit, a crash included
 * (then they are only told to stop: Azurite saves its tables and exits on its own). Without this a killed
 * command left its Azurite running, holding the port and out/azurite.
 */
const running = new Map<() => Promise<void>, () => void>();
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

function onExit(): void {
  for (const signalStop of running.values()) signalStop();
}

async function onSignal(signal: NodeJS.Signals): Promise<void> {
  // A command with its own handler (serve stops its server first) stops its Azurite itself.
  if (process.listenerCount(signal) > 1) return;
  await Promise.all([...running.keys()].map((stop) => stop()));
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

let installed = false;

function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onExit);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function removeCleanup(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', onExit);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}
