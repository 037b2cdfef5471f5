// Gathers a feed's papers and skipped items in feed order, whatever the format.
import type { PaperInput, SkippedItem } from '../types.ts';

/** A paper listed twice in one feed is kept once, with the earliest of its dates; the repeat is reported. */
export function feedCollector() {
  const papers: PaperInput[] = [];
  const skipped: SkippedItem[] = [];
  const seen = new Map<string, { paper: PaperInput; index: number }>();
  return {
    add(index: number, paper: PaperInput) {
      const first = seen.get(paper.id);
      if (!first) {
        seen.set(paper.id, { paper, index });
        papers.push(paper);
        return;
      }
      if (paper.listedAt < first.paper.listedAt) first.paper.listedAt = paper.listedAt;
      if (paper.publishedAt < first.paper.publishedAt) first.paper.publishedAt = paper.publishedAt;
      skipped.push({ index, id: paper.id, reason: `the same paper as item ${first.index}` });
    },
    skip(index: number, reason: string, id?: string) {
      skipped.push({ index, ...(id ? { id } : {}), reason });
    },
    result: () => ({ papers, skipped }),
  };
}
