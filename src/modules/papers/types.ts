// A paper as every feed format is normalised to before it is stored.
export interface PaperInput {
  /** arXiv id without version, e.g. 2201.05718 or hep-th/9901001. */
  id: string;
  title: string;
  abstract: string;
  authors: string[];
  keywords: string[];
  aiSummary: string | null;
  publishedAt: Date;
  listedAt: Date;
  upvotes: number;
  githubUrl: string | null;
  projectUrl: string | null;
  source: 'hf_daily' | 'arxiv';
  withdrawnAt: Date | null;
}

/** An item that could not be imported, and why, so the operator can fix the feed. */
export interface SkippedItem {
  /** Position in the feed, counting from 1. */
  index: number;
  id?: string;
  reason: string;
}

export interface ParsedFeed {
  format: 'hf_daily' | 'arxiv_atom';
  papers: PaperInput[];
  skipped: SkippedItem[];
}
