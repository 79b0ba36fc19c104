import type { PriceBook } from '../domain/price-book.js';

export interface PriceBookSource {
  /** Loads and validates the price book; throws AppError PRICE_BOOK_INVALID listing every problem. */
  load(): Promise<PriceBook>;
}
