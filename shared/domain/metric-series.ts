/**
 * Azure Monitor keeps at most 50,000 active custom-metric time series per region per subscription (over a
 * 12-hour period); a policy's series are the product of its dimensions' distinct values. Past the limit new
 * series are dropped, and with them tokens this product would never see, so the doctor warns well before.
 */
export const ACTIVE_SERIES_LIMIT = 50_000;
export const SERIES_WARNING_FRACTION = 0.7;
/** What to do near the limit, cheapest first (docs/gateway.md). */
export const SERIES_REMEDY =
  'drop the Tier dimension and derive the tier from app-role assignments in Graph, give the gateway its own subscription or region, or split users across regions (docs/gateway.md)';

export interface SeriesAssessment {
  readonly level: 'ok' | 'warning' | 'over';
  /** The documented estimate: distinct users x models x tiers. */
  readonly product: number;
  /** The combinations actually seen (at most the product). */
  readonly combinations: number;
  readonly fractionOfLimit: number;
  readonly message: string;
}

export function assessSeries(seen: { users: number; models: number; tiers: number; combinations: number }): SeriesAssessment {
  const product = seen.users * seen.models * seen.tiers;
  const fractionOfLimit = product / ACTIVE_SERIES_LIMIT;
  const percent = `${(fractionOfLimit * 100).toFixed(1)}%`;
  const figures =
    `${seen.users} users x ${seen.models} models x ${seen.tiers} tiers = ${product} time series (${percent} of Azure Monitor's ` +
    `${ACTIVE_SERIES_LIMIT} active series limit); ${seen.combinations} combinations actually seen`;
  if (product >= ACTIVE_SERIES_LIMIT) {
    return { level: 'over', product, combinations: seen.combinations, fractionOfLimit, message: `${figures}: over the limit, new series are dropped and their tokens lost; ${SERIES_REMEDY}` };
  }
  if (fractionOfLimit >= SERIES_WARNING_FRACTION) {
    return {
      level: 'warning',
      product,
      combinations: seen.combinations,
      fractionOfLimit,
      message: `${figures}: above ${SERIES_WARNING_FRACTION * 100}% of the limit; ${SERIES_REMEDY}`,
    };
  }
  return { level: 'ok', product, combinations: seen.combinations, fractionOfLimit, message: figures };
}
