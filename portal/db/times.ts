/**
 * Times as the API shows them. The tables keep times as milliseconds since the epoch (a number on
 * both databases, db/open.ts); every answer gives them as ISO 8601 strings, made here once.
 */

/** A time in ms as an ISO 8601 string; null (or a column not there) stays null. */
export function iso(ms: number | string): string;
export function iso(ms: number | string | null | undefined): string | null;
export function iso(ms: number | string | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(Number(ms)).toISOString();
}
