/** Where the pipeline tells the gateway whom to refuse (budget actions); the gateway policy reads it. */
export interface GatewayBlockList {
  /** Replaces the list with exactly these oids (none lifts every block). */
  publish(userIds: readonly string[]): Promise<{ readonly changed: boolean }>;
}
