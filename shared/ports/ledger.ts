/** The record that a month was closed, and which revision of its numbers is the current one. */
export interface MonthClose {
  readonly month: string;
  readonly revision: number;
  /** Hash of the closed lines: a rerun that produces the same fingerprint changed nothing. */
  readonly fingerprint: string;
  readonly closedAt: Date;
  readonly priceBookVersion: string;
  readonly totalMinorUnits: string;
  readonly currency: string;
}

export interface CloseRegistry {
  get(month: string): Promise<MonthClose | undefined>;
  put(close: MonthClose): Promise<void>;
}

/** One mail the product owes someone, identified so that a rerun can tell whether it already went. */
export interface DeliveryRecord {
  readonly key: string;
  readonly status: 'sent' | 'failed';
  readonly attempts: number;
  readonly recipients: readonly string[];
  readonly messageId?: string;
  readonly lastError?: string;
  readonly updatedAt: Date;
}

export interface DeliveryLedger {
  get(key: string): Promise<DeliveryRecord | undefined>;
  put(record: DeliveryRecord): Promise<void>;
}
