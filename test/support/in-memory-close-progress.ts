import type { CloseProgress, PlannedWorkItem, WorkItemState, WorkOutcome } from '../../shared/ports/close-progress.js';

/** A revision's delivery progress in memory, with the Table adapter's semantics (plan keeps what exists). */
export class InMemoryCloseProgress implements CloseProgress {
  readonly revisions = new Map<string, Map<string, WorkItemState>>();
  constructor(private readonly now: () => Date = () => new Date()) {}

  async plan(month: string, revision: number, items: readonly PlannedWorkItem[]): Promise<void> {
    const states = this.revision(month, revision);
    for (const item of items) if (!states.has(item.id)) states.set(item.id, { ...item, state: 'pending', updatedAt: this.now() });
  }

  async complete(month: string, revision: number, itemId: string, outcome: WorkOutcome): Promise<void> {
    const kind = itemId === 'finance' ? 'finance' : itemId.startsWith('mail~') ? 'mail' : 'team';
    this.revision(month, revision).set(itemId, { id: itemId, kind, state: outcome.status, outcome: { ...outcome }, updatedAt: this.now() });
  }

  async item(month: string, revision: number, itemId: string): Promise<WorkItemState | undefined> {
    const state = this.revision(month, revision).get(itemId);
    return state ? { ...state } : undefined;
  }

  async items(month: string, revision: number): Promise<WorkItemState[]> {
    return [...this.revision(month, revision).values()].map((item) => ({ ...item })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async hasPending(month: string, revision: number, kind: PlannedWorkItem['kind']): Promise<boolean> {
    return [...this.revision(month, revision).values()].some((item) => item.kind === kind && item.state === 'pending');
  }

  private revision(month: string, revision: number): Map<string, WorkItemState> {
    const key = `${month}~r${revision}`;
    let states = this.revisions.get(key);
    if (!states) this.revisions.set(key, (states = new Map()));
    return states;
  }
}
