// What the digest benchmark and its no-database worker (nodb-worker.ts) share.

/** One prebuilt digest: what digestTemplateData returns, and where it goes. */
export interface PrebuiltDigest {
  deliveryId: string;
  to: string;
  subject: string;
  unsubscribeUrl: string;
  data: Record<string, unknown>;
}

export const NODB_QUEUE = 'nodb-digest';
