/**
 * A list a page shows as the API last gave it. Every page loaded its lists the same way (a failure
 * in the alert, "Loading…" until the first answer, the list patched after a change the server
 * took), so that lives here once.
 */
import { api } from './api';
import { attempt, showError } from './alert.svelte';

/** What a table shows (DataTable): a Listing, or some of one (a filter's hits). */
export interface Rows<T> {
  readonly items: T[];
  /** False until the first answer: the table says "Loading…" rather than that there are none. */
  readonly loaded: boolean;
  /** The field that tells the items apart. */
  readonly key: keyof T;
}

export class Listing<T> implements Rows<T> {
  items = $state.raw<T[]>([]);
  /** The first answer came: an empty list now means "none", not "not yet". */
  loaded = $state(false);
  /** How many the server has in all: its answer's `total` when it sent a page, else the list's length. */
  total = $state(0);
  /** The whole last answer, for what a page reads beside the list (a count of those waiting). */
  answer = $state.raw<Record<string, unknown>>({});

  readonly #path: () => string;
  readonly #field: string;
  readonly key: keyof T;
  #newest = 0;

  /** `path` is read on every load (a search in its query); the answer holds the list as `field`. */
  constructor(path: string | (() => string), field: string, key: keyof T) {
    this.#path = typeof path === 'string' ? () => path : path;
    this.#field = field;
    this.key = key;
  }

  // Answers can overtake each other (a search typed fast, a reload after a change): only the
  // newest request's counts.
  async load(): Promise<void> {
    const mine = ++this.#newest;
    try {
      const answer = await api.get<Record<string, unknown>>(this.#path());
      const found = (answer[this.#field] as T[] | undefined) ?? [];
      if (mine === this.#newest) {
        this.items = found;
        this.total = typeof answer.total === 'number' ? answer.total : found.length;
        this.answer = answer;
        this.loaded = true;
      }
    } catch (err) {
      showError(err);
    }
  }

  #same(a: T, b: T): boolean {
    return a[this.key] === b[this.key];
  }

  /** A new item, last (or first, where the newest should show at the top). */
  add(item: T, first = false): void {
    const rest = this.items.filter((i) => !this.#same(i, item));
    this.items = first ? [item, ...rest] : [...rest, item];
  }

  replace(item: T): void {
    this.items = this.items.map((i) => (this.#same(i, item) ? item : i));
  }

  /** Deletes the item at `path` and drops it from the list once the server took that. */
  async delete(item: T, path: string): Promise<void> {
    if (await attempt(() => api.del(path))) this.items = this.items.filter((i) => !this.#same(i, item));
  }
}
