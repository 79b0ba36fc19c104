import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/domain/errors.js';
import { costOf, parsePriceBook, type PriceBook } from '../../shared/domain/price-book.js';
import { zeroTokens, type TokenCounts } from '../../shared/domain/tokens.js';

const SOURCE = 'prices.json';

function rates(input: string, output = '15', cacheRead = '0.30', cacheWrite5m = '3.75', cacheWrite1h = '6') {
  return { input, output, cacheRead, cacheWrite5m, cacheWrite1h };
}

function sampleBook(): PriceBook {
  return parsePriceBook(
    {
      currency: 'USD',
      models: [
        {
          model: 'claude-opus-4',
          displayName: 'Claude Opus 4',
          aliases: ['claude-opus-4-20250514'],
          patterns: ['claude-opus-4*'],
          prices: [{ effectiveFrom: '2025-05-22', perMillionTokens: rates('15', '75', '1.50', '18.75', '30') }],
        },
        {
          model: 'claude-opus-4-1',
          aliases: [],
          patterns: ['claude-opus-4-1*'],
          prices: [{ effectiveFrom: '2025-08-05', perMillionTokens: rates('15', '75', '1.50', '18.75', '30') }],
        },
        {
          model: 'claude-haiku-4-5',
          displayName: 'Claude Haiku 4.5',
          aliases: ['claude-haiku-4-5-20251001'],
          patterns: ['*anthropic.claude-haiku-4-5*'],
          prices: [{ effectiveFrom: '2025-10-15', perMillionTokens: rates('1', '5', '0.10', '1.25', '2') }],
        },
        {
          model: 'claude-sonnet-4-6',
          patterns: [],
          prices: [
            // Listed out of order on purpose: the book sorts by effectiveFrom.
            { effectiveFrom: '2026-03-15', perMillionTokens: rates('2') },
            { effectiveFrom: '2026-02-17', perMillionTokens: rates('3') },
          ],
        },
      ],
    },
    SOURCE,
  );
}

function problemsOf(document: unknown): AppError {
  try {
    parsePriceBook(document, SOURCE);
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected the price book to be rejected');
}

function tokens(partial: Partial<TokenCounts>): TokenCounts {
  return { ...zeroTokens(), ...partial };
}

describe('resolving gateway model ids', () => {
  const book = sampleBook();

  it('finds a model by its own id and by an alias (a dated snapshot id)', () => {
    expect(book.resolveModel('claude-haiku-4-5')?.model).toBe('claude-haiku-4-5');
    expect(book.resolveModel('claude-haiku-4-5-20251001')?.model).toBe('claude-haiku-4-5');
  });

  it('matches patterns, including a Bedrock-style id with a region prefix', () => {
    expect(book.resolveModel('us.anthropic.claude-haiku-4-5-20251001-v1:0')?.model).toBe('claude-haiku-4-5');
    expect(book.resolveModel('claude-opus-4-20250601')?.model).toBe('claude-opus-4');
  });

  it('prefers the pattern with the longest literal text, so claude-opus-4* does not swallow claude-opus-4-1', () => {
    expect(book.resolveModel('claude-opus-4-1-20250805')?.model).toBe('claude-opus-4-1');
    expect(book.resolveModel('claude-opus-4-1')?.model).toBe('claude-opus-4-1');
  });

  it('ignores case and surrounding whitespace', () => {
    expect(book.resolveModel('Claude-Haiku-4-5-20251001')?.model).toBe('claude-haiku-4-5');
    expect(book.resolveModel('  CLAUDE-OPUS-4-1  ')?.model).toBe('claude-opus-4-1');
  });

  it('leaves ids that match nothing unresolved and unpriced', () => {
    expect(book.resolveModel('claude-3-unreleased-preview')).toBeUndefined();
    expect(book.priceFor('claude-3-unreleased-preview', '2026-11-01')).toBeUndefined();
    // A pattern anchors at both ends: a prefix glob does not match in the middle of an id.
    expect(book.resolveModel('eu.claude-opus-4-1')).toBeUndefined();
  });

  it('treats glob metacharacters other than * literally', () => {
    expect(book.resolveModel('us.anthropicXclaude-haiku-4-5')).toBeUndefined();
  });
});

describe('effective-dated prices', () => {
  const book = sampleBook();

  it('prices each day of a month with the price in force that day when the price changes mid-month', () => {
    expect(book.priceFor('claude-sonnet-4-6', '2026-03-01')?.perMillion.input.toString()).toBe('3');
    expect(book.priceFor('claude-sonnet-4-6', '2026-03-14')?.perMillion.input.toString()).toBe('3');
    expect(book.priceFor('claude-sonnet-4-6', '2026-03-15')?.perMillion.input.toString()).toBe('2');
    expect(book.priceFor('claude-sonnet-4-6', '2026-03-31')?.perMillion.input.toString()).toBe('2');
  });

  it('records which price was used as <model>@<effectiveFrom>', () => {
    expect(book.priceFor('claude-sonnet-4-6', '2026-03-14')?.id).toBe('claude-sonnet-4-6@2026-02-17');
    expect(book.priceFor('claude-sonnet-4-6', '2026-03-15')?.id).toBe('claude-sonnet-4-6@2026-03-15');
  });

  it('has no price the day before the first effectiveFrom, and one on that day', () => {
    expect(book.priceFor('claude-sonnet-4-6', '2026-02-16')).toBeUndefined();
    expect(book.priceFor('claude-sonnet-4-6', '2026-02-17')?.id).toBe('claude-sonnet-4-6@2026-02-17');
  });

  it('keeps prices sorted oldest first', () => {
    expect(book.resolveModel('claude-sonnet-4-6')?.prices.map((p) => p.effectiveFrom)).toEqual(['2026-02-17', '2026-03-15']);
  });
});

describe('cost computation', () => {
  const book = sampleBook();
  const sonnet = book.priceFor('claude-sonnet-4-6', '2026-03-01')!;

  it('is exact: 1 token at $3 per million is 0.000003', () => {
    expect(costOf(tokens({ input: 1 }), sonnet).toString()).toBe('0.000003');
  });

  it('prices every token kind at its own rate and adds them exactly', () => {
    const cost = costOf(tokens({ input: 1_000_000, output: 1_000_000, cacheRead: 1_000_000, cacheWrite5m: 1_000_000, cacheWrite1h: 1_000_000 }), sonnet);
    expect(cost.toString()).toBe('28.05'); // 3 + 15 + 0.30 + 3.75 + 6
  });

  it('does not lose precision where binary floating point would', () => {
    const haiku = book.priceFor('claude-haiku-4-5', '2026-01-01')!;
    // In binary floating point 3 * 0.1 / 1e6 is 3.0000000000000004e-7.
    expect(costOf(tokens({ cacheRead: 3 }), haiku).toString()).toBe('0.0000003');
    expect(costOf(tokens({ input: 123_456_789, output: 987_654_321 }), haiku).toFixed()).toBe('5061.728394');
  });

  it('costs nothing for no tokens', () => {
    expect(costOf(zeroTokens(), sonnet).isZero()).toBe(true);
  });
});

describe('validation', () => {
  it('reports every problem at once, each naming the file, the entry and the field', () => {
    const error = problemsOf({
      models: [
        {
          model: 'claude-a',
          prices: [{ effectiveFrom: '2026-02-30', currency: 'USD', perMillionTokens: rates('3') }],
        },
        {
          model: 'claude-b',
          prices: [{ effectiveFrom: '2026-01-01', currency: 'USD', perMillionTokens: rates('-1') }],
        },
        {
          model: 'claude-c',
          prices: [{ effectiveFrom: '2026-01-01', currency: 'usd', perMillionTokens: rates('3') }],
        },
      ],
    });
    expect(error.code).toBe('PRICE_BOOK_INVALID');
    expect(error.details).toHaveLength(3);
    expect(error.details[0]).toContain(`${SOURCE}: models[0] (claude-a).prices[0].effectiveFrom`);
    expect(error.details[1]).toContain(`${SOURCE}: models[1] (claude-b).prices[0].perMillionTokens.input`);
    expect(error.details[2]).toContain(`${SOURCE}: models[2] (claude-c).prices[0].currency`);
    expect(error.message).toContain(SOURCE);
    expect(error.message).toContain('3 problem(s)');
  });

  it('rejects an alias claimed by two models', () => {
    const error = problemsOf({
      currency: 'USD',
      models: [
        { model: 'claude-x', aliases: ['shared-id'], prices: [{ effectiveFrom: '2026-01-01', perMillionTokens: rates('1') }] },
        { model: 'claude-y', aliases: ['Shared-ID'], prices: [{ effectiveFrom: '2026-01-01', perMillionTokens: rates('2') }] },
      ],
    });
    expect(error.details).toHaveLength(1);
    expect(error.details[0]).toContain('models[1] (claude-y)');
    expect(error.details[0]).toContain('"Shared-ID" is already used by claude-x');
  });

  it('rejects a model id used as another model\'s alias', () => {
    const error = problemsOf({
      currency: 'USD',
      models: [
        { model: 'claude-x', prices: [{ effectiveFrom: '2026-01-01', perMillionTokens: rates('1') }] },
        { model: 'claude-y', aliases: ['claude-x'], prices: [{ effectiveFrom: '2026-01-01', perMillionTokens: rates('2') }] },
      ],
    });
    expect(error.details.join('\n')).toContain('"claude-x" is already used by claude-x');
  });

  it('rejects a book that mixes currencies', () => {
    const error = problemsOf({
      models: [
        { model: 'claude-x', prices: [{ effectiveFrom: '2026-01-01', currency: 'USD', perMillionTokens: rates('1') }] },
        { model: 'claude-y', prices: [{ effectiveFrom: '2026-01-01', currency: 'EUR', perMillionTokens: rates('1') }] },
      ],
    });
    expect(error.details).toEqual([`${SOURCE}: models: every price must be in one currency, found EUR, USD`]);
  });

  it('rejects a code that is shaped like a currency but is not an ISO 4217 currency', () => {
    const error = problemsOf({ currency: 'XYZ', models: [{ model: 'claude-x', prices: [{ effectiveFrom: '2026-01-01', perMillionTokens: rates('1') }] }] });
    expect(error.details).toEqual([`${SOURCE}: currency: "XYZ" is not a current ISO 4217 currency code (such as "USD", "EUR", "JPY")`]);
    const perPrice = problemsOf({ models: [{ model: 'claude-x', prices: [{ effectiveFrom: '2026-01-01', currency: 'XAU', perMillionTokens: rates('1') }] }] });
    expect(perPrice.details).toEqual([
      `${SOURCE}: models[0] (claude-x).prices[0].currency: "XAU" is not a current ISO 4217 currency code (such as "USD", "EUR", "JPY") (here or at the top of the file)`,
    ]);
  });

  it('reports a mixed-currency book together with the other problems of its prices', () => {
    const error = problemsOf({
      models: [
        { model: 'claude-x', prices: [{ effectiveFrom: '2026-01-01', currency: 'USD', perMillionTokens: rates('1') }] },
        { model: 'claude-y', prices: [{ effectiveFrom: '2026-02-30', currency: 'EUR', perMillionTokens: rates('-1') }] },
      ],
    });
    expect(error.details).toEqual([
      `${SOURCE}: models[1] (claude-y).prices[0].effectiveFrom: must be a calendar day YYYY-MM-DD, got "2026-02-30"`,
      `${SOURCE}: models[1] (claude-y).prices[0].perMillionTokens.input: must be a non-negative decimal price per million tokens, got "-1"`,
      `${SOURCE}: models: every price must be in one currency, found EUR, USD`,
    ]);
  });

  it('takes JPY and BHD books, whose amounts have 0 and 3 decimals', () => {
    for (const currency of ['JPY', 'BHD']) {
      const book = parsePriceBook({ currency, models: [{ model: 'claude-x', prices: [{ effectiveFrom: '2026-01-01', perMillionTokens: rates('450') }] }] }, SOURCE);
      expect(book.currency).toBe(currency);
    }
  });

  it('rejects a top-level currency that the prices contradict', () => {
    const error = problemsOf({
      currency: 'USD',
      models: [{ model: 'claude-x', prices: [{ effectiveFrom: '2026-01-01', currency: 'EUR', perMillionTokens: rates('1') }] }],
    });
    expect(error.details).toEqual([`${SOURCE}: models: every price must be in one currency, found EUR, USD`]);
  });

  it('rejects a model defined twice and a pattern used by two models', () => {
    const error = problemsOf({
      currency: 'USD',
      models: [
        { model: 'claude-x', patterns: ['claude-x-*'], prices: [{ effectiveFrom: '2026-01-01', perMillionTokens: rates('1') }] },
        { model: 'claude-x', patterns: ['claude-x-*'], prices: [{ effectiveFrom: '2026-02-01', perMillionTokens: rates('2') }] },
      ],
    });
    expect(error.details).toEqual([
      `${SOURCE}: models[1] (claude-x).model: model "claude-x" is already defined at models[0]`,
      `${SOURCE}: models[1] (claude-x).patterns: pattern "claude-x-*" is already used by models[0] (claude-x)`,
    ]);
  });

  it('takes the currency from the top of the file when a price omits it', () => {
    const book = parsePriceBook(
      { currency: 'EUR', models: [{ model: 'claude-x', prices: [{ effectiveFrom: '2026-01-01', perMillionTokens: rates('1') }] }] },
      SOURCE,
    );
    expect(book.currency).toBe('EUR');
    expect(book.priceFor('claude-x', '2026-01-01')?.currency).toBe('EUR');
  });

  it('rejects a missing price for a token kind and an unknown token kind', () => {
    const error = problemsOf({
      currency: 'USD',
      models: [
        {
          model: 'claude-x',
          prices: [{ effectiveFrom: '2026-01-01', perMillionTokens: { input: '1', output: '5', cacheRead: '0.1', cacheWrite5m: '1.25', cacheWrite: '2' } }],
        },
      ],
    });
    expect(error.details).toHaveLength(2);
    expect(error.details[0]).toContain('models[0] (claude-x).prices[0].perMillionTokens.cacheWrite1h');
    expect(error.details[1]).toContain('models[0] (claude-x).prices[0].perMillionTokens.cacheWrite:');
  });

  it('rejects two prices of one model taking effect on the same day', () => {
    const error = problemsOf({
      currency: 'USD',
      models: [
        {
          model: 'claude-x',
          prices: [
            { effectiveFrom: '2026-01-01', perMillionTokens: rates('1') },
            { effectiveFrom: '2026-01-01', perMillionTokens: rates('2') },
          ],
        },
      ],
    });
    expect(error.details).toEqual([`${SOURCE}: models[0] (claude-x).prices: two prices take effect on 2026-01-01`]);
  });

  it('rejects a document that is not an object, or has no models', () => {
    expect(problemsOf([]).message).toContain(SOURCE);
    expect(problemsOf({ currency: 'USD', models: [] }).details).toEqual([`${SOURCE}: models: must be a non-empty array`]);
  });

  it('ignores unknown top-level keys such as description and sources', () => {
    const book = parsePriceBook(
      {
        description: 'test book',
        checkedOn: '2026-11-23',
        sources: ['https://example.invalid/pricing'],
        currency: 'USD',
        models: [{ model: 'claude-x', prices: [{ effectiveFrom: '2026-01-01', perMillionTokens: rates('1') }] }],
      },
      SOURCE,
    );
    expect(book.models.map((m) => m.model)).toEqual(['claude-x']);
  });

  it('versions the book by the content of the file', () => {
    const document = { currency: 'USD', models: [{ model: 'claude-x', prices: [{ effectiveFrom: '2026-01-01', perMillionTokens: rates('1') }] }] };
    const text = JSON.stringify(document);
    const a = parsePriceBook(document, SOURCE, text);
    const b = parsePriceBook(document, SOURCE, text);
    const c = parsePriceBook(document, SOURCE, `${text}\n`);
    expect(a.version).toMatch(/^[0-9a-f]{12}$/);
    expect(b.version).toBe(a.version);
    expect(c.version).not.toBe(a.version);
  });
});
