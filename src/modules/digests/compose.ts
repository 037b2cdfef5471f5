// A reader's digest email: the chosen papers, the "why" of each, and every link a reader may need.
import type { Config } from '../../config.ts';
import type { Database } from '../../db/client.ts';
import type { ClaimedDelivery } from '../mail/deliveries.ts';
import { messageIdFor } from '../mail/deliveries.ts';
import type { Composed } from '../mail/send.ts';
import { renderEmail, type EmailTemplates } from '../mail/templates.ts';
import { addressHash } from '../subscribers/address.ts';
import { subscriberLink } from '../subscribers/emails.ts';
import { httpUrl } from '../papers/normalize.ts';
import { escapeXml } from '../papers/feeds.ts';
import { paperUrl } from '../papers/ranking.ts';
import { cleanText } from '../../text.ts';
import { isPastCutoff, lateReason } from './cutoff.ts';
import { choosePapers, digestWindowStart, type ChosenPaper } from './papers.ts';

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

type Reader = NonNullable<Awaited<ReturnType<typeof loadReader>>>;

const loadReader = (db: Database, id: string) =>
  db.subscriber.findUnique({
    where: { id },
    include: {
      topics: { include: { topic: { select: { id: true, name: true } } }, orderBy: { topic: { name: 'asc' } } },
    },
  });

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
function readerLinks(config: DigestConfig, reader: Reader, deliveryId: string | undefined) {
  const manageUrl = subscriberLink(config, reader, 'manage');
  const unsubscribeUrl = subscriberLink(config, reader, 'unsubscribe');
  const topicUnsubscribes = reader.topics.map(({ topic }) => ({
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

/** The reader's next digest as it would be sent now, or null when no new paper matches. Records nothing. */
export async function buildDigest(
  db: Database,
  config: DigestConfig,
  templates: EmailTemplates,
  reader: Reader,
  now: Date = new Date(),
  /**
   * The delivery this digest is (for its web-view link); to re-create a sent one, its papers; `shared` for
   * the web view, which carries none of the reader's own links.
   */
  sent: { deliveryId?: string; paperIds?: string[]; shared?: boolean } = {},
): Promise<BuiltDigest | null> {
  const papers = await choosePapers(db, reader, await digestWindowStart(db, reader, now), now, sent.paperIds);
  if (papers.length === 0) return null;
  const links = sent.shared ? sharedLinks(config) : readerLinks(config, reader, sent.deliveryId);
  const subject = subjectFor(papers);
  const date = dayFormat(reader.timeZone).format(now);
  const { html, text } = renderEmail(templates, 'digest', {
    subject,
    preview: papers[0]!.title,
    footer: links.footer,
    date,
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
  });
  const { unsubscribeUrl } = links;
  return { subject, html, text, unsubscribeUrl, paperIds: papers.map((paper) => paper.id) };
}

/** `paperboy digest:preview` and the admin preview: the next digest's HTML, nothing sent or recorded. */
export async function previewDigest(
  db: Database,
  config: DigestConfig,
  templates: EmailTemplates,
  subscriberId: string,
) {
  const reader = await loadReader(db, subscriberId);
  return reader ? buildDigest(db, config, templates, reader) : null;
}

/** The message for a claimed digest delivery, or why it must not go out. */
export async function composeDigest(
  db: Database,
  config: DigestConfig,
  templates: EmailTemplates,
  delivery: ClaimedDelivery,
  now: Date = new Date(),
): Promise<Composed> {
  if (isPastCutoff(config, delivery.dueAt, now)) return { skip: lateReason(config) };
  const reader = await loadReader(db, delivery.subscriberId);
  if (!reader) return { skip: 'the subscriber no longer exists' };
  if (reader.status !== 'active' || reader.pausedAt)
    return { skip: `the subscriber is ${reader.pausedAt ? 'paused' : reader.status}` };
  if (await db.suppression.findUnique({ where: { addressHash: addressHash(reader.email) } })) {
    return { skip: 'the address is suppressed' };
  }
  // A retry re-sends the papers chosen the first time (same Message-ID, same content).
  const digest = await buildDigest(db, config, templates, reader, now, {
    deliveryId: delivery.id,
    ...(delivery.paperIds.length ? { paperIds: delivery.paperIds } : {}),
  });
  if (!digest) return { skip: 'no new papers match' };
  const host = new URL(config.PUBLIC_URL).hostname;
  return {
    paperIds: digest.paperIds,
    message: {
      messageId: messageIdFor(delivery.id, config.PUBLIC_URL),
      from: config.MAIL_FROM,
      ...(config.MAIL_REPLY_TO ? { replyTo: config.MAIL_REPLY_TO } : {}),
      to: reader.email,
      subject: digest.subject,
      html: digest.html,
      text: digest.text,
      headers: {
        // One header with both ways out (RFC 2369), and the one-click POST (RFC 8058).
        'List-Unsubscribe': `<${digest.unsubscribeUrl}>, <mailto:unsubscribe@${host}?subject=unsubscribe>`,
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        'List-Id': `Paperboy digest <digest.${host}>`,
        'Auto-Submitted': 'auto-generated',
        Precedence: 'bulk',
      },
    },
  };
}

/** The web view of a sent digest (`GET /digest/<token>`): the same email, re-created from its papers. */
export async function webViewOf(
  db: Database,
  config: DigestConfig,
  templates: EmailTemplates,
  subscriberId: string,
  deliveryId: string,
) {
  const delivery = await db.delivery.findUnique({ where: { id: deliveryId } });
  if (!delivery || delivery.subscriberId !== subscriberId || delivery.status !== 'sent') return null;
  const reader = await loadReader(db, subscriberId);
  if (!reader) return null;
  return buildDigest(db, config, templates, reader, delivery.sentAt ?? new Date(), {
    paperIds: delivery.paperIds,
    shared: true,
  });
}
