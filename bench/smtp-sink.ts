// An SMTP server in its own process for the digest benchmark: accepts every message, keeps nothing but
// each Message-ID's accept time (and one sample message of about the average size), and answers the parent over IPC.
//   fork('bench/smtp-sink.ts') → { type: 'ready', port }; send 'count' | 'report' | 'reset' → same type back.
import { SMTPServer } from 'smtp-server';
import { processMemory } from './support.ts';

const accepted: [messageId: string, at: number][] = [];
let bytes = 0;
let sample: string | undefined;

/** The Message-ID header of a raw message, read from its header block only. */
function messageIdOf(raw: Buffer): string {
  const end = raw.indexOf('\r\n\r\n');
  const headers = raw.subarray(0, end < 0 ? raw.length : end).toString('latin1');
  return /^message-id:\s*(\S+)/im.exec(headers)?.[1] ?? '';
}

const server = new SMTPServer({
  disabledCommands: ['STARTTLS', 'AUTH'],
  disableReverseLookup: true,
  logger: false,
  // The default of 100 connections would be the limit, not the sink; the benchmark opens far fewer.
  maxClients: 1_000,
  onData(stream, _session, callback) {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const raw = Buffer.concat(chunks);
      bytes += raw.length;
      accepted.push([messageIdOf(raw), Date.now()]);
      // The sample (what the ceiling sends) is the message nearest the average size so far, so that the
      // ceiling is measured with messages like the run's, not with whichever came first.
      const mean = bytes / accepted.length;
      if (sample === undefined || Math.abs(raw.length - mean) < Math.abs(sample.length - mean)) {
        sample = raw.toString('latin1');
      }
      callback(null);
    });
  },
});
server.on('error', () => {}); // clients closing their pools at the end is routine

server.listen(0, '127.0.0.1', () => {
  const address = server.server.address();
  process.send?.({ type: 'ready', port: typeof address === 'object' && address ? address.port : 0 });
});

process.on('message', (message: { type: string }) => {
  switch (message.type) {
    case 'count':
      return process.send?.({ type: 'count', count: accepted.length });
    case 'report':
      return process.send?.({ type: 'report', accepted, bytes, sample, peakMiB: processMemory().peakMiB });
    case 'reset':
      accepted.length = 0;
      bytes = 0;
      sample = undefined;
      return process.send?.({ type: 'reset' });
  }
});
process.on('disconnect', () => server.close(() => process.exit(0)));
