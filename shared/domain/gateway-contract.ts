import type { MetricMapping } from './metric-mapping.js';
import type { TokenKind } from './tokens.js';

/**
 * The gateway's side of the contract, judged from what App Insights holds (docs/gateway.md). Pure: the
 * caller passes the per-metric counts the contract query returned. A problem breaks the contract (the doctor
 * exits non-zero); a warning is something an operator should look at.
 */
/** One metric of the gateway's namespace as the contract query counted it over its window. */
export interface ContractMetric {
  readonly name: string;
  /** Rows of pre-aggregated samples in the window. */
  readonly samples: number;
  /** Measurements in them (sum of valueCount): one per request for a metric emitted once per request. */
  readonly requests: number;
  readonly valueSum: number;
  /** Samples at or after the `recentSince` instant the check was asked about. */
  readonly recentSamples: number;
  /** Samples carrying a non-empty value of each configured dimension. */
  readonly withUserId: number;
  readonly withModel: number;
  readonly withTier: number;
}

export interface ContractAssessment {
  readonly lines: string[];
  readonly problems: string[];
  readonly warnings: string[];
}

const CACHE_KINDS: readonly TokenKind[] = ['cacheRead', 'cacheWrite5m', 'cacheWrite1h'];
/** More request-metric measurements than output-metric ones by this share means prompt-only requests. */
export const PROMPT_ONLY_REQUEST_TOLERANCE = 0.05;
/** A Total vs priced kinds gap past this share of the total is worth a look. */
export const TOTAL_GAP_TOLERANCE = 0.02;

function percent(part: number, whole: number): string {
  return whole === 0 ? '-' : `${((part / whole) * 100).toFixed(1)}%`;
}

export function assessGatewayContract(input: {
  readonly mapping: MetricMapping;
  readonly metrics: readonly ContractMetric[];
  /** Whether the window reaches into the last hour, so recent counts mean "the last hour". */
  readonly coversLastHour: boolean;
}): ContractAssessment {
  const { mapping, metrics } = input;
  const lines: string[] = [];
  const problems: string[] = [];
  const warnings: string[] = [];
  const byName = new Map(metrics.map((metric) => [metric.name, metric]));
  const read = new Set<string>([...Object.keys(mapping.tokenKinds), mapping.requestCountMetric]);
  if (mapping.totalTokensMetric !== null) read.add(mapping.totalTokensMetric);
  const seenRead = [...read].map((name) => byName.get(name)).filter((metric): metric is ContractMetric => metric !== undefined && metric.samples > 0);

  // Dimensions: on none of the samples is a broken contract; on some of them, usage that goes unallocated.
  const dimensionChecks: [string, (m: ContractMetric) => number][] = [
    [mapping.dimensions.userId, (m) => m.withUserId],
    [mapping.dimensions.model, (m) => m.withModel],
    [mapping.dimensions.tier, (m) => m.withTier],
  ];
  const readSamples = seenRead.reduce((sum, m) => sum + m.samples, 0);
  const present: string[] = [];
  for (const [dimension, count] of dimensionChecks) {
    const carrying = seenRead.reduce((sum, m) => sum + count(m), 0);
    present.push(`${dimension} ${percent(carrying, readSamples)}`);
    if (readSamples === 0) continue;
    if (carrying === 0) {
      problems.push(
        `dimension "${dimension}" is on none of the ${readSamples} samples: enable "custom metrics with dimensions" on the App Insights resource, ` +
          `and check the policy's dimension names against DIMENSION_* (docs/gateway.md)`,
      );
    } else if (carrying < readSamples) {
      warnings.push(`dimension "${dimension}" is missing on ${readSamples - carrying} of ${readSamples} samples; that usage is read with an empty ${dimension}`);
    }
  }
  lines.push(`Dimensions present (share of samples of the read metrics): ${present.join(', ')}`);

  if (input.coversLastHour) {
    const recent = [...read].sort().map((name) => `${name} ${byName.get(name)?.recentSamples ?? 0}`);
    lines.push(`Last hour (samples): ${recent.join(', ')}`);
    if (seenRead.length > 0 && seenRead.every((m) => m.recentSamples === 0)) {
      warnings.push('no usage samples in the last hour: the gateway was idle, or ingestion is late (usually 2-5 minutes); the hourly alerts have nothing new to read');
    }
  } else {
    lines.push('Last hour: not in the window (run without --from/--to to see it)');
  }

  const mappedCache = Object.entries(mapping.tokenKinds).filter(([, kind]) => CACHE_KINDS.includes(kind));
  const unmappedCache = metrics.filter((m) => /cache/i.test(m.name) && !Object.hasOwn(mapping.tokenKinds, m.name) && m.samples > 0).map((m) => m.name);
  if (mappedCache.length === 0) {
    lines.push('Cache metrics: none mapped in METRIC_TOKEN_KINDS');
  } else {
    lines.push(`Cache metrics: ${mappedCache.map(([name]) => `${name} ${byName.get(name)?.samples ?? 0} samples`).join(', ')}`);
    if (mappedCache.every(([name]) => (byName.get(name)?.samples ?? 0) === 0)) {
      warnings.push(
        'no mapped cache metric arrives: the policy emits them only for non-streamed responses that used the prompt cache; ' +
          'streamed cache tokens are corrected by the reconciliation with the Azure bill',
      );
    }
  }
  if (unmappedCache.length > 0) {
    warnings.push(`cache metrics arrive but are not priced: add ${unmappedCache.map((name) => `"${name}=<kind>"`).join(', ')} to METRIC_TOKEN_KINDS (docs/gateway.md)`);
  }

  // count_tokens: prompt tokens with no completion. The samples carry no request path, so this is the trace it leaves.
  const requestMetric = byName.get(mapping.requestCountMetric);
  const outputName = Object.entries(mapping.tokenKinds).find(([, kind]) => kind === 'output')?.[0];
  const outputMetric = outputName === undefined ? undefined : byName.get(outputName);
  if (requestMetric !== undefined && outputMetric !== undefined && requestMetric.requests > 0 && outputName !== mapping.requestCountMetric) {
    const promptOnly = requestMetric.requests - outputMetric.requests;
    lines.push(`Requests: ${requestMetric.requests} with ${mapping.requestCountMetric}, ${outputMetric.requests} with ${outputName}`);
    if (promptOnly > requestMetric.requests * PROMPT_ONLY_REQUEST_TOLERANCE) {
      problems.push(
        `${promptOnly} of ${requestMetric.requests} requests (${percent(promptOnly, requestMetric.requests)}) have ${mapping.requestCountMetric} but no ${outputName}: ` +
          'count_tokens calls are probably metered as usage; meter only POST /v1/messages (docs/gateway.md)',
      );
    }
  } else {
    lines.push('Requests: count_tokens metering cannot be checked without both the request metric and an output metric; call /v1/messages/count_tokens through the gateway and see that no new sample appears');
  }

  const total = mapping.totalTokensMetric === null ? undefined : byName.get(mapping.totalTokensMetric);
  if (total !== undefined && total.valueSum > 0) {
    const priced = Object.keys(mapping.tokenKinds).reduce((sum, name) => sum + (byName.get(name)?.valueSum ?? 0), 0);
    const gap = total.valueSum - priced;
    lines.push(`Total vs priced kinds: ${mapping.totalTokensMetric} ${total.valueSum}, mapped kinds ${priced}, gap ${gap} (${percent(gap, total.valueSum)} of the total)`);
    if (gap > total.valueSum * TOTAL_GAP_TOLERANCE) {
      warnings.push(
        `the gateway's total is ${percent(gap, total.valueSum)} above the priced kinds: tokens it counts that are not priced (cache tokens of streamed responses?); ` +
          'the reconciliation with the Azure bill corrects the month',
      );
    } else if (-gap > total.valueSum * TOTAL_GAP_TOLERANCE) {
      const inputName = Object.entries(mapping.tokenKinds).find(([, kind]) => kind === 'input')?.[0] ?? 'the input metric';
      warnings.push(`the priced kinds exceed the gateway's total by ${percent(-gap, total.valueSum)}: cache tokens may be counted in ${inputName} too (priced twice)`);
    }
  }
  return { lines, problems, warnings };
}
