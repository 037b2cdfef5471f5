// Text hygiene: address detection keeps its meaning and stays linear on long hostile input.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { looksLikeAddress, withoutAddresses } from '../src/text.ts';

// The patterns these functions replaced, quadratic but right: the reference on short strings.
const OLD_ADDRESS_LIKE = /[^\s<>()[\]"',;:]+@[^\s<>()[\]"',;:]+/g;
const OLD_LOOKS_LIKE_ADDRESS = /[^\s@]+@[^\s@]+\.[^\s@]+/;

/** Short strings over the characters that matter to the patterns, so generated cases hit every branch. */
const addressish = fc.string({
  unit: fc.constantFrom('a', 'b', '@', '.', ' ', '\n', '<', '>', ',', ':', '"'),
  maxLength: 24,
});

/** Inputs that make a backtracking address pattern rescan: long runs with no @, or @ with nothing after. */
const MEGABYTE = 1_000_000;
const hostile = [
  'a'.repeat(MEGABYTE),
  '@'.repeat(MEGABYTE),
  'a@'.repeat(MEGABYTE / 2),
  `a@${'a'.repeat(MEGABYTE)}`,
  'a@a.'.repeat(MEGABYTE / 4) + '@',
  'a.'.repeat(MEGABYTE / 2),
];

describe('address detection', () => {
  it('blanks what the old pattern blanked, and nothing else', () => {
    fc.assert(
      fc.property(addressish, (text) => {
        expect(withoutAddresses(text)).toBe(text.replace(OLD_ADDRESS_LIKE, '[address]'));
      }),
      { numRuns: 5_000 },
    );
    expect(withoutAddresses('550 5.1.1 <ada@example.org>: no such user, cc grace@x')).toBe(
      '550 5.1.1 <[address]>: no such user, cc [address]',
    );
  });

  it('finds an address where the old pattern did', () => {
    fc.assert(
      fc.property(addressish, (text) => {
        expect(looksLikeAddress(text)).toBe(OLD_LOOKS_LIKE_ADDRESS.test(text));
      }),
      { numRuns: 5_000 },
    );
    expect(looksLikeAddress('same person as b@example.org')).toBe(true);
    expect(looksLikeAddress('@handle on a.b, user@host')).toBe(false);
  });

  // Linear time takes milliseconds here; the old patterns took about half an hour per megabyte.
  // The bound is generous so that a busy CI machine cannot fail it.
  it.each(hostile.map((text, index) => [index, text] as const))(
    'reads hostile megabyte #%i in linear time',
    (_, text) => {
      const started = performance.now();
      withoutAddresses(text);
      looksLikeAddress(text);
      expect(performance.now() - started).toBeLessThan(1_000);
    },
  );
});
