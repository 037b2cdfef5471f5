// A reader's digest email: the chosen papers, the "why" of each, and every link a reader may need.
import type { Config } from '../../config.ts';
import type { Database } from '../../db/client.ts';
import { previousDigestAt, sentDigest, type ClaimedDelivery } from '../mail/deliveries.ts';
import { envelope } from '../mail/envelope.ts';
import type { Composed } from '../mail/send.ts';
import type { MailMessage } from '../mail/transport.ts';
import { renderEmail, type EmailTemplates } from '../mail/templates.ts';
import { subscriberLink } from '../subscribers/emails.ts';
import { httpUrl } from '../papers/normalize.ts';
import { escapeXml } from '../papers/feeds.ts';
import { paperUrl } from '../papers/ranking.ts';
import { cleanText } from '../../text.ts';
import { isPastCutoff, lateReason } from './cutoff.ts';
import { choosePapers, choosePapersFor, digestWindowStart, type ChosenPaper } from './papers.ts';

type DigestConfig = Pick<
  Config,
  'PUBLIC_URL' | 'TOKEN_KEYS' | 'CONFIRM_TOKEN_TTL_HOURS' | 'MAIL_FROM' | 'MAIL_REPLY_TO' | 'DIGEST_CUTOFF_HOURS'
>;

const SUMMARY_LENGTH = 320;

const shorten = (text: string, length: number) =>
  text.length > length ? `${text.slice(0, length).replace(/\s+\S*$/, '')}…` : text;
const authorsLine = (authors: string[]) =>
  authors.length > 3 ? `${authors.slice(0, 3).join(', ')} et al.` : authors.join(', ');

/**
 * "3 papers: Model merging, Large language models" — the count and the top topics, on one line: a keyword
 * written straight to the database may hold a line break, and the message builder refuses one in a header.
 */
function subjectFor(papers: ChosenPaper[]): string {
  const topics = [...new Set(papers.map((paper) => cleanText(paper.why.replace(/^your keyword /, ''))))].slice(0, 2);
  return `${papers.length} trending paper${papers.length === 1 ? '' : 's'}: ${topics.join(', ')}`;
}

/** What a digest's links and date need from its reader. */
interface LinkReader {
  id: string;
  tokenVersion: number;
  timeZone: string;
  topics: { id: number; name: string }[];
}

const loadReader = async (db: Database, id: string) => {
  const reader = await db.subscriber.findUnique({
    where: { id },
    include: {
      topics: { include: { topic: { select: { id: true, name: true } } }, orderBy: { topic: { name: 'asc' } } },
    },
  });
  return reader && { ...reader, topics: reader.topics.map(({ topic }) => topic) };
};

export interface BuiltDigest {
  subject: string;
  html: string;
  text: string;
  unsubscribeUrl: string;
  paperIds: string[];
}

// A formatter per time zone, made once: building one per digest was a measurable share of a digest's CPU.
const dayFormats = new Map<string, Intl.DateTimeFormat>();
function dayFormat(timeZone: string): Intl.DateTimeFormat {
  let format = dayFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'long', day: 'numeric', month: 'long' });
    dayFormats.set(timeZone, format);
  }
  return format;
}

/** The reader's own links: settings, unsubscribe (all, or one topic) and this digest's web view. */
function readerLinks(config: DigestConfig, reader: LinkReader, deliveryId: string | undefined) {
  const manageUrl = subscriberLink(config, reader, 'manage');
  const unsubscribeUrl = subscriberLink(config, reader, 'unsubscribe');
  const topicUnsubscribes = reader.topics.map((topic) => ({
    name: topic.name,
    url: subscriberLink(config, reader, 'unsubscribe', { topicId: topic.id }),
  }));
  return {
    manageUrl,
    unsubscribeUrl,
    topicUnsubscribes,
    webViewUrl: deliveryId ? subscriberLink(config, reader, 'web-view', { deliveryId }) : null,
    footer: [
      `<a href="${manageUrl}">Change topics or schedule</a> · <a href="${unsubscribeUrl}">Unsubscribe</a>`,
      ...topicUnsubscribes.map(({ name, url }) => `<a href="${url}">Stop ${escapeXml(name)}</a>`),
    ].join(' · '),
  };
}

/**
 * The web view is the page people forward and share: it carries no link that acts for its reader, only
 * the public pages (sign up, or have your own settings link emailed to you).
 */
function sharedLinks(config: DigestConfig) {
  const manageLinkUrl = `${config.PUBLIC_URL}/manage-link`;
  return {
    manageUrl: manageLinkUrl,
    unsubscribeUrl: manageLinkUrl,
    topicUnsubscribes: [],
    webViewUrl: null,
    footer:
      `A Paperboy digest, shown in the browser. <a href="${config.PUBLIC_URL}/">Get your own</a> · ` +
      `<a href="${manageLinkUrl}">Email me a link to my settings</a>`,
  };
}

/**
 * What the digest template is filled with for this reader and these papers: no database. `shared` is the
 * web view, which carries none of the reader's own links; `deliveryId` gives the email its web-view link.
 */
export function digestTemplateData(
  config: DigestConfig,
  reader: LinkReader,
  papers: ChosenPaper[],
  now: Date,
  sent: { deliveryId?: string; shared?: boolean },
) {
  const links = sent.shared ? sharedLinks(config) : readerLinks(config, reader, sent.deliveryId);
  const subject = subjectFor(papers);
  return {
    subject,
    unsubscribeUrl: links.unsubscribeUrl,
    data: {
      subject,
      preview: papers[0]!.title,
      footer: links.footer,
      date: dayFormat(reader.timeZone).format(now),
      count: papers.length,
      plural: papers.length !== 1,
      papers: papers.map((paper) => ({
        title: paper.title,
        url: paperUrl(paper),
        authors: authorsLine(paper.authors),
        summary: shorten(paper.aiSummary ?? paper.abstract, SUMMARY_LENGTH),
        why: paper.why,
        codeUrl: httpUrl(paper.githubUrl),
      })),
      manageUrl: links.manageUrl,
      unsubscribeUrl: links.unsubscribeUrl,
      webViewUrl: links.webViewUrl,
      topicUnsubscribes: links.topicUnsubscribes,
    },
  };
}

function renderDigest(
  config: DigestConfig,
  templates: EmailTemplates,
  reader: LinkReader,
  papers: ChosenPaper[],
  now: Date,
  sent: { deliveryId?: string; shared?: boolean },
): BuiltDigest {
  const { subject, unsubscribeUrl, data } = digestTemplateData(config, reader, papers, now, sent);
  const { html, text } = renderEmail(templates, 'digest', data);
  return { subject, html, text, unsubscribeUrl, paperIds: papers.map((paper) => paper.id) };
}

/** `paperboy digest:preview` and the admin preview: the next digest's HTML, nothing sent or recorded. */
export async function previewDigest(
  db: Database,
  config: DigestConfig,
  templates: EmailTemplates,
  subscriberId: string,
  now: Date = new Date(),
): Promise<BuiltDigest | null> {
  const reader = await loadReader(db, subscriberId);
  if (!reader) return null;
  const since = digestWindowStart(reader, await previousDigestAt(db, subscriberId), now);
  const papers = await choosePapers(db, reader, since, now);
  return papers.length ? renderDigest(config, templates, reader, papers, now, {}) : null;
}

/** A built digest as the message to its reader (the envelope adds the Message-ID and list headers). */
export const digestMessage = (
  config: DigestConfig,
  deliveryId: string,
  to: string,
  digest: Pick<BuiltDigest, 'subject' | 'html' | 'text' | 'unsubscribeUrl'>,
): MailMessage => envelope(config, { deliveryId, kind: 'digest', to, ...digest });

/** Why a claimed digest must not go out after all, before any paper is chosen; null to go on. */
function skipReason(config: DigestConfig, delivery: ClaimedDelivery, now: Date): string | null {
  if (isPastCutoff(config, delivery.dueAt, now)) return lateReason(config);
  const { reader } = delivery;
  if (!reader) return 'the subscriber no longer exists';
  if (reader.status !== 'active' || reader.pausedAt)
    return `the subscriber is ${reader.pausedAt ? 'paused' : reader.status}`;
  if (reader.suppressed) return 'the address is suppressed';
  return null;
}

/**
 * The messages for a page of claimed digest deliveries, one per delivery in order (or why it must not go
 * out): the papers of the whole page are chosen in two statements, then each email is filled in. A
 * retry re-sends the papers chosen the first time (same Message-ID, same content).
 */
export async function composeDigests(
  db: Database,
  config: DigestConfig,
  templates: EmailTemplates,
  deliveries: ClaimedDelivery[],
  now: Date = new Date(),
): Promise<Composed[]> {
  const composed: (Composed | undefined)[] = deliveries.map((delivery) => {
    const skip = skipReason(config, delivery, now);
    return skip ? { skip } : undefined;
  });
  // The reader as choosing and the links need it: the claim's reader under its subscriber id.
  const sendable = deliveries.flatMap((delivery, k) =>
    composed[k] || !delivery.reader ? [] : [{ k, delivery, reader: { ...delivery.reader, id: delivery.subscriberId } }],
  );
  const papers = await choosePapersFor(
    db,
    sendable.map(({ delivery, reader }) =>
      delivery.paperIds.length
        ? { reader, resend: delivery.paperIds }
        : { reader, since: digestWindowStart(reader, reader.previousDigestAt, now) },
    ),
    now,
  );
  sendable.forEach(({ k, delivery, reader }, i) => {
    const chosen = papers[i]!;
    if (chosen.length === 0) {
      composed[k] = { skip: 'no new papers match' };
      return;
    }
    try {
      const digest = renderDigest(config, templates, reader, chosen, now, { deliveryId: delivery.id });
      composed[k] = { paperIds: digest.paperIds, message: digestMessage(config, delivery.id, reader.email, digest) };
    } catch (error) {
      // One reader's digest that cannot be built (a bug, odd data) must not hold back the rest of the page.
      composed[k] = {
        retry: `the digest could not be composed: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
  });
  // Every slot is filled: skipped before choosing, or composed above.
  return composed as Composed[];
}

/** The web view of a sent digest (`GET /digest/<token>`): the same email, re-created from its papers. */
export async function webViewOf(
  db: Database,
  config: DigestConfig,
  templates: EmailTemplates,
  subscriberId: string,
  deliveryId: string,
) {
  const delivery = await sentDigest(db, deliveryId);
  if (!delivery || delivery.subscriberId !== subscriberId) return null;
  const reader = await loadReader(db, subscriberId);
  if (!reader) return null;
  const at = delivery.sentAt;
  const papers = await choosePapers(db, reader, at, at, delivery.paperIds);
  return papers.length ? renderDigest(config, templates, reader, papers, at, { shared: true }) : null;
}
