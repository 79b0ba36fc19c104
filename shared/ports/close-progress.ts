/**
 * Which work items of a revision's delivery are done (Azure Table Storage): what a team item checks before
 * the finance item may start, what a rerun skips, and what the operator and the CLI are shown.
 */
export interface CloseProgress {
  /** Records the items a revision's delivery consists of; items already recorded keep their state. */
  plan(month: string, revision: number, items: readonly PlannedWorkItem[]): Promise<void>;
  /** Marks one item done with what it did (shown as it is); repeating it overwrites the outcome. */
  complete(month: string, revision: number, itemId: string, outcome: WorkOutcome): Promise<void>;
  /** One item of the revision (a point read), or undefined when it was never planned. */
  item(month: string, revision: number, itemId: string): Promise<WorkItemState | undefined>;
  /** Every item of the revision, by id. */
  items(month: string, revision: number): Promise<WorkItemState[]>;
  /**
   * Whether an item of this kind is still pending: what each of 500 team items asks when it is done, answered
   * without reading the revision's thousand items each time.
   */
  hasPending(month: string, revision: number, kind: PlannedWorkItem['kind']): Promise<boolean>;
}

export interface PlannedWorkItem {
  /** "team~<teamId>", "finance", "mail~<delivery key>". */
  readonly id: string;
  readonly kind: 'team' | 'finance' | 'mail';
}

export interface WorkOutcome {
  /** done: finished; superseded: a later revision was published first, so this one's work was dropped. */
  readonly status: 'done' | 'superseded';
  /** A short line for people: "sent to 2 recipients", "workbook written, mail not owed". */
  readonly summary: string;
  /** For mails: the delivery outcome (sent, already-sent, uncertain, no-recipients). */
  readonly mail?: string;
  readonly location?: string;
}

export interface WorkItemState extends PlannedWorkItem {
  readonly state: 'pending' | WorkOutcome['status'];
  readonly outcome?: WorkOutcome;
  readonly updatedAt: Date;
}
