/** A real SMTP peer for tests (`smtp-server`) on 127.0.0.1 and a free port, keeping what it receives. */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface Mail {
  to: string;
  text: string;
}

export interface SmtpPeer {
  /** `smtp://127.0.0.1:<port>`, for `LOCKWARDEN_SMTP_URL` or the runtime's mail settings. */
  url: string;
  /** Every message received, in order: recipients joined by commas, and the raw message text. */
  mails: Mail[];
  close(): Promise<void>;
}

export async function smtpPeer(): Promise<SmtpPeer> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, done) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address).join(','), text: Buffer.concat(chunks).toString('utf8') });
        done();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { url: `smtp://127.0.0.1:${port}`, mails, close: () => new Promise((r) => server.close(() => r())) };
}
