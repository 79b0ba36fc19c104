import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

export function azuriteConnectionString(): string {
  return inject('azuriteConnectionString');
}

/** A table name no other test uses: letters and digits only, as Table Storage requires. */
export function uniqueTableName(prefix: string): string {
  return `${prefix.replace(/[^A-Za-z0-9]/g, '')}${randomBytes(4).toString('hex')}`;
}

export function azuriteQueueConnectionString(): string {
  return inject('azuriteQueueConnectionString');
}

/** A queue name prefix no other test uses: lowercase letters and digits, ending in a hyphen. */
export function uniqueQueuePrefix(): string {
  return `t${randomBytes(4).toString('hex')}-`;
}
