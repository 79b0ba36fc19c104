import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilePriceBookSource } from '../../shared/adapters/local/file-price-book.js';
import { PROJECT_ROOT } from '../../shared/config/project-root.js';
import { loadSettings } from '../../shared/config/settings.js';
import { AppError } from '../../shared/domain/errors.js';
import type { PriceBook } from '../../shared/domain/price-book.js';

const GATEWAY_MODELS = ['claude-sonnet-4-6', 'claude-haiku-4-5', 'claude-opus-4-6', 'claude-opus-4-8'];

async function loadError(source: FilePriceBookSource): Promise<AppError> {
  try {
    await source.load();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected loading the price book to fail');
}

/** Where the settings point when PRICE_BOOK_FILE is not set. */
const DEFAULT_PRICE_BOOK_PATH = loadSettings({ USAGE_FILES: 'usage.ndjson', DIRECTORY_FILE: 'directory.json' }, { projectRoot: PROJECT_ROOT }).priceBookPath;

describe('the default price book (data/price-book.json)', () => {
  let book: PriceBook;

  beforeAll(async () => {
    book = await new FilePriceBookSource(DEFAULT_PRICE_BOOK_PATH).load();
  });

  it('is found relative to the project root', () => {
    expect(DEFAULT_PRICE_BOOK_PATH).toBe(path.join(PROJECT_ROOT, 'data', 'price-book.json'));
    expect(path.relative(process.cwd(), DEFAULT_PRICE_BOOK_PATH)).toBe(path.join('data', 'price-book.json'));
    expect(book.source).toBe(DEFAULT_PRICE_BOOK_PATH);
    expect(book.currency).toBe('USD');
  });

  it.each(GATEWAY_MODELS)('prices the gateway model %s on 2026-11-01', (modelId) => {
    expect(book.resolveModel(modelId)?.model).toBe(modelId);
    const price = book.priceFor(modelId, '2026-11-01');
    expect(price?.currency).toBe('USD');
    expect(price?.perMillion.input.greaterThan(0)).toBe(true);
  });

  it('maps dated snapshot, Bedrock and Vertex ids to their model', () => {
    const expected: Record<string, string> = {
      'claude-haiku-4-5-20251001': 'claude-haiku-4-5',
      'anthropic.claude-haiku-4-5-20251001-v1:0': 'claude-haiku-4-5',
      'us.anthropic.claude-haiku-4-5-20251001-v1:0': 'claude-haiku-4-5',
      'claude-haiku-4-5@20251001': 'claude-haiku-4-5',
      'claude-sonnet-4-5-20250929': 'claude-sonnet-4-5',
      'global.anthropic.claude-sonnet-4-5-20250929-v1:0': 'claude-sonnet-4-5',
      'claude-sonnet-4-20250514': 'claude-sonnet-4',
      'claude-sonnet-4-0': 'claude-sonnet-4',
      'claude-opus-4-20250514': 'claude-opus-4',
      'claude-opus-4-1-20250805': 'claude-opus-4-1',
      'claude-opus-4-5-20251101': 'claude-opus-4-5',
      'anthropic.claude-opus-4-6-v1': 'claude-opus-4-6',
      'claude-opus-4-6[1m]': 'claude-opus-4-6',
      'anthropic.claude-sonnet-4-6': 'claude-sonnet-4-6',
      'claude-3-7-sonnet-20250219': 'claude-3-7-sonnet',
      'claude-3-5-haiku-20241022': 'claude-3-5-haiku',
      'claude-3-haiku-20240307': 'claude-3-haiku',
      'claude-opus-5': 'claude-opus-5',
      'claude-opus-5-5': 'claude-opus-5-5',
      'claude-sonnet-5-5': 'claude-sonnet-5-5',
    };
    const actual = Object.fromEntries(Object.keys(expected).map((id) => [id, book.resolveModel(id)?.model]));
    expect(actual).toEqual(expected);
  });

  it('does not let an older generation swallow newer ids', () => {
    for (const id of ['claude-opus-4-7', 'claude-opus-4-8', 'claude-opus-4-9', 'claude-sonnet-4-7', 'claude-opus-5-6', 'claude-sonnet-5-6']) {
      expect(['claude-opus-4', 'claude-sonnet-4', 'claude-opus-5', 'claude-sonnet-5']).not.toContain(book.resolveModel(id)?.model);
    }
    expect(book.resolveModel('claude-opus-4-9')).toBeUndefined();
    expect(book.resolveModel('claude-opus-5-6')).toBeUndefined();
  });

  it('leaves unreleased and experimental ids unpriced', () => {
    for (const id of ['claude-3-unreleased-preview', 'claude-experimental', 'claude-haiku-5-5', 'claude-mythos-preview', 'gpt-4o']) {
      expect(book.resolveModel(id), id).toBeUndefined();
      expect(book.priceFor(id, '2026-11-01'), id).toBeUndefined();
    }
  });

  it('uses the vendor cache multipliers on the gateway models (0.1x read, 1.25x 5-minute write, 2x 1-hour write)', () => {
    for (const modelId of GATEWAY_MODELS) {
      const { input, cacheRead, cacheWrite5m, cacheWrite1h } = book.priceFor(modelId, '2026-11-01')!.perMillion;
      expect(cacheRead.equals(input.times('0.1')), modelId).toBe(true);
      expect(cacheWrite5m.equals(input.times('1.25')), modelId).toBe(true);
      expect(cacheWrite1h.equals(input.times(2)), modelId).toBe(true);
    }
  });

  it('carries the published list prices for the gateway models', () => {
    const summary = Object.fromEntries(
      GATEWAY_MODELS.map((id) => {
        const price = book.priceFor(id, '2026-11-01')!;
        return [id, `${price.perMillion.input.toString()}/${price.perMillion.output.toString()}`];
      }),
    );
    expect(summary).toEqual({
      'claude-sonnet-4-6': '3/15',
      'claude-haiku-4-5': '1/5',
      'claude-opus-4-6': '5/25',
      'claude-opus-4-8': '5/25',
    });
  });

  it('keeps price history: Haiku 3.5 at launch price before its cut, Opus 4.1 at the older Opus tier', () => {
    expect(book.priceFor('claude-3-5-haiku-20241022', '2024-11-20')?.perMillion.input.toString()).toBe('1');
    expect(book.priceFor('claude-3-5-haiku-20241022', '2025-06-01')?.perMillion.input.toString()).toBe('0.8');
    expect(book.priceFor('claude-opus-4-1', '2026-01-01')?.perMillion.output.toString()).toBe('75');
    expect(book.priceFor('claude-opus-4-6', '2026-02-04')).toBeUndefined();
  });

  it('records where its prices come from and when they were checked', async () => {
    const raw = JSON.parse(await readFile(DEFAULT_PRICE_BOOK_PATH, 'utf8')) as { checkedOn?: unknown; sources?: unknown; description?: unknown };
    expect(raw.checkedOn).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(Array.isArray(raw.sources) && raw.sources.length > 0).toBe(true);
    expect(String(raw.description)).toMatch(/long-context/i);
  });
});

describe('FilePriceBookSource failures', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'price-book-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reports malformed JSON as PRICE_BOOK_INVALID naming the file and the line', async () => {
    const file = path.join(dir, 'broken.json');
    await writeFile(file, '{\n  "currency": "USD",\n  "models": [\n    { "model": "claude-x", }\n  ]\n}\n');
    const error = await loadError(new FilePriceBookSource(file));
    expect(error.code).toBe('PRICE_BOOK_INVALID');
    expect(error.message).toContain(file);
    expect(error.message).toContain(`${file}:4:`);
    expect(error.message).toMatch(/not valid JSON/);
  });

  it('reports an empty file as PRICE_BOOK_INVALID', async () => {
    const file = path.join(dir, 'empty.json');
    await writeFile(file, '');
    const error = await loadError(new FilePriceBookSource(file));
    expect(error.code).toBe('PRICE_BOOK_INVALID');
    expect(error.message).toContain(file);
  });

  it('reports a missing file as PRICE_BOOK_INVALID naming the file', async () => {
    const file = path.join(dir, 'nope.json');
    const error = await loadError(new FilePriceBookSource(file));
    expect(error.code).toBe('PRICE_BOOK_INVALID');
    expect(error.message).toContain(file);
    expect(error.message).toContain('does not exist');
    expect(error.retryable).toBe(false);
  });

  it('reports a directory given as the path as PRICE_BOOK_INVALID', async () => {
    const error = await loadError(new FilePriceBookSource(dir));
    expect(error.code).toBe('PRICE_BOOK_INVALID');
    expect(error.message).toContain(dir);
  });

  it('passes the file name to validation so every problem names it', async () => {
    const file = path.join(dir, 'invalid.json');
    await writeFile(file, JSON.stringify({ currency: 'USD', models: [{ model: 'claude-x', prices: [{ effectiveFrom: 'soon', perMillionTokens: {} }] }] }));
    const error = await loadError(new FilePriceBookSource(file));
    expect(error.code).toBe('PRICE_BOOK_INVALID');
    expect(error.details.length).toBeGreaterThan(1);
    for (const detail of error.details) expect(detail.startsWith(`${file}: models[0] (claude-x)`)).toBe(true);
  });

  it('accepts a file that starts with a byte-order mark', async () => {
    const file = path.join(dir, 'bom.json');
    const document = { currency: 'USD', models: [{ model: 'claude-x', prices: [{ effectiveFrom: '2026-01-01', perMillionTokens: { input: '1', output: '5', cacheRead: '0.1', cacheWrite5m: '1.25', cacheWrite1h: '2' } }] }] };
    await writeFile(file, `\uFEFF${JSON.stringify(document)}`);
    const book = await new FilePriceBookSource(file).load();
    expect(book.priceFor('claude-x', '2026-01-01')?.id).toBe('claude-x@2026-01-01');
  });
});
