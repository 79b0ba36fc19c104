import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

export interface Received {
  readonly mailFrom: string;
  readonly rcptTo: string[];
  readonly raw: Buffer;
}

export interface RunningServer {
  readonly port: number;
  readonly received: Received[];
  readonly logins: string[];
  close(): Promise<void>;
}

const servers: RunningServer[] = [];

/** Closes every server started since the last call (for afterEach). */
export async function closeSmtpServers(): Promise<void> {
  await Promise.all(servers.splice(0).map((server) => server.close()));
}

/** A real SMTP server on 127.0.0.1 and a free port: plain text, AUTH optional (and allowed without TLS). */
export async function startSmtpServer(overrides: Partial<SMTPServerOptions> = {}): Promise<RunningServer> {
  const received: Received[] = [];
  const logins: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, callback) {
      logins.push(`${auth.username}:${auth.password}`);
      callback(null, { user: auth.username });
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const mailFrom = session.envelope.mailFrom;
        received.push({
          mailFrom: mailFrom ? mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((address) => address.address),
          raw: Buffer.concat(chunks),
        });
        callback();
      });
    },
    ...overrides,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  // Closed once, however often asked (a test may close it early to make it unreachable).
  let closing: Promise<void> | undefined;
  const running: RunningServer = { port, received, logins, close: () => (closing ??= new Promise<void>((resolve) => server.close(() => resolve()))) };
  servers.push(running);
  return running;
}

