import type { ContractMetric } from '../domain/gateway-contract.js';
import type { TimeWindow } from '../domain/periods.js';

export interface MetricNameSeen {
  readonly name: string;
  /** '' when the source does not record a namespace (export files). */
  readonly namespace: string;
  readonly samples: number;
  /** Sum of the samples' values; null when the source cannot tell. */
  readonly valueSum: number | null;
}

/** Distinct dimension values of the usage metrics in a window: the custom-metric time series they keep active. */
export interface DimensionsSeen {
  /** Distinct UserId x Model x Tier combinations. */
  readonly combinations: number;
  readonly users: number;
  readonly models: number;
  readonly tiers: number;
  readonly modelValues: readonly string[];
  readonly tierValues: readonly string[];
}

/** One metric of the gateway's namespace, as the contract check sees it (App Insights only): the domain's figures. */
export type MetricContractSeen = ContractMetric;

export interface UsageDiscoveryReport {
  readonly sourceDescription: string;
  readonly window: TimeWindow;
  /** Every metric name (and namespace) seen in the window, most samples first. */
  readonly metrics: readonly MetricNameSeen[];
  readonly dimensions: DimensionsSeen;
  /** Per metric of the namespace; absent when the source cannot tell (export files). */
  readonly contract?: readonly MetricContractSeen[];
}

/** What the `doctor` command asks a usage source: can we read it, and what does the gateway emit into it. */
export interface UsageDiscovery {
  /** Runs the smallest possible read; throws the source's AppError when access fails. */
  checkAccess(window: TimeWindow): Promise<string>;
  /** `recentSince`: the instant "the last hour" starts, for the contract check's recent sample counts. */
  discover(window: TimeWindow, options: { timeZone: string; recentSince?: Date }): Promise<UsageDiscoveryReport>;
}
