// Benchmark: CPU per message for building a digest email, nodemailer's MailComposer against buildMessage,
// alone and through nodemailer's send pipeline (a buffering stream transport: everything but the socket).
//
//   npm run bench -- mime [--messages 2000] [--rounds 5]
//
// Needs no database or Redis: the digests are rendered from the sample papers with the real templates.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { simpleParser } from 'mailparser';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import { buildMessage, type MailMessage } from '../src/modules/mail/mime.ts';
import { compileEmailTemplates, renderEmail } from '../src/modules/mail/templates.ts';
import { subscriberLink } from '../src/modules/subscribers/emails.ts';
import { forkReady, stop } from './ipc.ts';
import { recordResult } from './results.ts';
import { benchConfig, fixed } from './support.ts';

const { values } = parseArgs({
  options: { messages: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '5' } },
  strict: false,
});
const messages = Number(values.messages);
const rounds = Number(values.rounds);

type SamplePaper = { paper: { id: string; title: string; summary: string; authors: { name: string }[] } };
const sample = JSON.parse(
  readFileSync(new URL('../data/sample/daily_papers.json', import.meta.url), 'utf8'),
) as SamplePaper[];
const config = benchConfig({ PUBLIC_URL: 'https://papers.example.org' });
const templates = await compileEmailTemplates();
const TOPICS = ['Model merging', 'Large language models', 'Diffusion models', 'Reinforcement learning'];

/** The i-th reader's digest, as composeDigest would hand it to the mailer: 5-10 papers, real links. */
function digestMessage(i: number): MailMessage {
  const reader = { id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, tokenVersion: 1 };
  const count = 5 + (i % 6);
  const papers = Array.from({ length: count }, (_, k) => sample[(i + k * 3) % sample.length]!.paper);
  const unsubscribeUrl = subscriberLink(config, reader, 'unsubscribe');
  const manageUrl = subscriberLink(config, reader, 'manage');
  const topics = TOPICS.slice(0, 1 + (i % 3)).map((name, topicId) => ({
    name,
    url: subscriberLink(config, reader, 'unsubscribe', { topicId: topicId + 1 }),
  }));
  const subject = `${count} trending papers: ${topics
    .slice(0, 2)
    .map((t) => t.name)
    .join(', ')}`;
  const { html, text } = renderEmail(templates, 'digest', {
    subject,
    preview: papers[0]!.title,
    footer: `<a href="${manageUrl}">Change topics or schedule</a> · <a href="${unsubscribeUrl}">Unsubscribe</a>`,
    date: 'Friday, 4 December',
    count,
    plural: true,
    papers: papers.map((paper, k) => ({
      title: paper.title,
      url: `https://arxiv.org/abs/${paper.id}`,
      authors: paper.authors
        .slice(0, 3)
        .map((a) => a.name)
        .join(', '),
      // Cut as composeDigest cuts it: the ellipsis makes the HTML a two-byte string, slower to encode.
      summary: `${paper.summary.slice(0, 320).replace(/\s+\S*$/, '')}…`,
      why: TOPICS[k % TOPICS.length],
      codeUrl: k % 2 ? `https://github.com/example/${paper.id}` : null,
    })),
    manageUrl,
    unsubscribeUrl,
    webViewUrl: subscriberLink(config, reader, 'web-view', { deliveryId: reader.id }),
    topicUnsubscribes: topics,
  });
  return {
    messageId: `<${reader.id}@papers.example.org>`,
    from: config.MAIL_FROM,
    to: `reader${i}@bench.example.org`,
    subject,
    html,
    text,
    headers: {
      'List-Unsubscribe': `<${unsubscribeUrl}>, <mailto:unsubscribe@papers.example.org?subject=unsubscribe>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      'List-Id': 'Paperboy digest <digest.papers.example.org>',
      'Auto-Submitted': 'auto-generated',
      Precedence: 'bulk',
    },
  };
}

/** What the mailer passed nodemailer before: the same message, for nodemailer to compose (base64 text). */
const asMailOptions = (message: MailMessage) => ({ ...message, textEncoding: 'base64' as const });

const stream = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });

// The SMTP sink in its own process, so its CPU is not counted here; 5 pooled connections, 16 messages in
// flight, as one worker process sends (createMailer's pool, WORKER_CONCURRENCY in the digest benchmark).
const { child: sink, ready } = await forkReady('./smtp-sink.ts');
const pool = nodemailer.createTransport({
  url: `smtp://127.0.0.1:${ready.port as number}`,
  pool: true,
  maxConnections: 5,
});
const IN_FLIGHT = 16;

/** Sends every message of the batch through the pool, IN_FLIGHT at a time. */
async function throughPool(batch: MailMessage[], send: (message: MailMessage) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < batch.length) await send(batch[next++]!);
    }),
  );
}

/** CPU seconds the sink process has used so far (utime + stime from /proc, 10 ms ticks). */
function sinkCpuSeconds(): number {
  const stat = readFileSync(`/proc/${sink.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Method {
  label: string;
  smtp?: boolean;
  /** Builds (or sends) every message of the batch; returns the bytes built, when it sees them. */
  run: (batch: MailMessage[]) => Promise<number>;
}
const oneByOne = (build: (message: MailMessage) => Promise<Buffer>) => async (batch: MailMessage[]) => {
  let bytes = 0;
  for (const message of batch) bytes += (await build(message)).length;
  return bytes;
};
const rawOf = (message: MailMessage) => {
  const { raw, envelope, messageId } = buildMessage(message);
  return { raw, envelope, messageId };
};
const METHODS: Method[] = [
  {
    label: "nodemailer's MailComposer (compile + build to a Buffer)",
    run: oneByOne((message) => new MailComposer(asMailOptions(message)).compile().build()),
  },
  { label: 'buildMessage', run: oneByOne(async (message) => buildMessage(message).raw) },
  {
    label: 'nodemailer sendMail to a buffering stream transport, composed by nodemailer',
    run: oneByOne(async (message) => (await stream.sendMail(asMailOptions(message))).message as Buffer),
  },
  {
    label: 'nodemailer sendMail to a buffering stream transport, raw from buildMessage',
    run: oneByOne(async (message) => (await stream.sendMail(rawOf(message))).message as Buffer),
  },
  {
    label: 'nodemailer SMTP pool to the sink, composed by nodemailer (the mailer before)',
    smtp: true,
    run: async (batch) => (await throughPool(batch, (message) => pool.sendMail(asMailOptions(message))), 0),
  },
  {
    label: 'nodemailer SMTP pool to the sink, raw from buildMessage (the mailer now)',
    smtp: true,
    run: async (batch) => (await throughPool(batch, (message) => pool.sendMail(rawOf(message))), 0),
  },
];

const inputs = Array.from({ length: messages }, (_, i) => digestMessage(i));
const htmlBytes = inputs.reduce((sum, m) => sum + Buffer.byteLength(m.html), 0) / inputs.length;

// Both builders must produce the same email: same text, HTML, subject and headers as mailparser reads them.
const built = [
  await new MailComposer(asMailOptions(inputs[0]!)).compile().build(),
  buildMessage(inputs[0]!).raw,
  (await stream.sendMail(asMailOptions(inputs[0]!))).message as Buffer,
  (await stream.sendMail(rawOf(inputs[0]!))).message as Buffer,
];
for (const raw of built) {
  const parsed = await simpleParser(raw);
  const expected = inputs[0]!;
  const same =
    parsed.subject === expected.subject &&
    parsed.text?.trim() === expected.text.replace(/\r\n/g, '\n').trim() &&
    parsed.html === expected.html &&
    parsed.messageId === expected.messageId &&
    ['list-unsubscribe', 'list-unsubscribe-post', 'list-id', 'auto-submitted'].every((key) =>
      parsed.headerLines.some((line) => line.key === key),
    );
  if (!same) throw new Error('a builder wrote a message that does not parse back to the digest');
}

// Warm up every path (JIT, template caches), then alternate the methods round by round so a noisy
// neighbour on the shared machine costs each of them alike.
for (const method of METHODS) await method.run(inputs.slice(0, 200));
const totals = METHODS.map(() => ({ cpuMicros: 0, sinkSeconds: 0, wallMs: 0, bytes: 0, count: 0 }));
const loadBefore = os.loadavg()[0]!;
const perRound = Math.ceil(messages / rounds);
for (let round = 0; round < rounds; round++) {
  const batch = inputs.slice(round * perRound, (round + 1) * perRound);
  for (const [m, method] of METHODS.entries()) {
    const sinkBefore = sinkCpuSeconds();
    const cpu = process.cpuUsage();
    const started = performance.now();
    totals[m]!.bytes += await method.run(batch);
    const used = process.cpuUsage(cpu);
    totals[m]!.sinkSeconds += sinkCpuSeconds() - sinkBefore;
    totals[m]!.cpuMicros += used.user + used.system;
    totals[m]!.wallMs += performance.now() - started;
    totals[m]!.count += batch.length;
  }
}
stream.close();
pool.close();
await stop(sink);

const perMessage = totals.map((t) => t.cpuMicros / t.count);
const table = [
  '| method | messages | CPU µs per message | wall µs per message | message size (KiB) | sink CPU µs per message |',
  '| --- | ---: | ---: | ---: | ---: | ---: |',
  ...METHODS.map(
    (method, m) =>
      `| ${method.label} | ${totals[m]!.count} | ${fixed(perMessage[m]!)} | ${fixed((1000 * totals[m]!.wallMs) / totals[m]!.count)} | ${totals[m]!.bytes ? fixed(totals[m]!.bytes / totals[m]!.count / 1024, 1) : '–'} | ${method.smtp ? fixed((1e6 * totals[m]!.sinkSeconds) / totals[m]!.count) : '–'} |`,
  ),
];
const saved = (before: number, after: number) =>
  `${fixed(perMessage[before]! - perMessage[after]!)} µs less per message (${fixed((100 * perMessage[after]!) / perMessage[before]!)}%)`;
const notes =
  `${messages} digests rendered with the real templates from the sample papers (5-10 papers each, HTML ` +
  `${fixed(htmlBytes / 1024, 1)} KiB on average, real signed links), in ${rounds} rounds that alternate the methods, ` +
  `after a warm-up; load average ${fixed(loadBefore, 1)} at the start (the machine is shared). CPU is this ` +
  `process's user + system time, GC included; the SMTP sink runs in its own process (its CPU in the last ` +
  `column, from /proc). Composing alone, buildMessage: ${saved(0, 1)}. Through a stream transport: ${saved(2, 3)}. ` +
  `Through the SMTP pool, 5 connections and ${IN_FLIGHT} in flight: ${saved(4, 5)}.`;
console.log(`\nBuilding digest emails (${os.cpus().length} cores, Node ${process.version})\n`);
console.log(table.join('\n'));
console.log(`\n${notes}`);

await recordResult({
  benchmark: 'mime',
  command: `npm run bench -- mime --messages ${messages} --rounds ${rounds}`,
  table,
  notes,
});
