/**
 * A task as its event stream tells it (GET /tasks/:id/events): a snapshot on every connect, then
 * only what changed. Hosts are kept as immutable objects in a Map replaced per event, so a row
 * keyed by MAC re-renders only when its own host object was replaced.
 */
import { api, ApiError, seg } from './api';
import { showError } from './alert.svelte';
import type { Task, TaskHost, TaskSummary, Totals } from './types';

/** Ten minutes of `totals` at one a second. */
const MAX_SAMPLES = 600;
/** How long to wait before opening a stream the browser gave up on. */
const RETRY_MS = 3000;

export class TaskStream {
  task = $state.raw<(TaskSummary & { groupDone?: boolean }) | null>(null);
  hosts = $state.raw(new Map<string, TaskHost>());
  totals = $state.raw<Totals[]>([]);
  live = $state(false);

  readonly #id: string;
  #source: EventSource | null = null;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(id: string) {
    this.#id = id;
  }

  open(): void {
    const source = new EventSource(`/api/v1/tasks/${seg(this.#id)}/events`);
    this.#source = source;
    source.onopen = () => (this.live = true);
    source.onerror = () => {
      this.live = false;
      // CONNECTING: the browser retries by itself (the portal restarted, the network blinked).
      // CLOSED: it gave up, on an answer that was not a stream (401, 404, a proxy's 502).
      if (source.readyState === EventSource.CLOSED) void this.#recover();
    };
    source.addEventListener('snapshot', (e) => this.#snapshot(JSON.parse(e.data) as Task));
    source.addEventListener('hosts', (e) => {
      const next = new Map(this.hosts);
      for (const h of (JSON.parse(e.data) as { hosts: TaskHost[] }).hosts) next.set(h.mac, h);
      this.hosts = next;
    });
    source.addEventListener('task', (e) => {
      this.task = { ...this.task, ...(JSON.parse(e.data) as TaskSummary) };
    });
    source.addEventListener('totals', (e) => {
      this.totals = [...this.totals.slice(1 - MAX_SAMPLES), JSON.parse(e.data) as Totals];
    });
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#source?.close();
  }

  #snapshot({ hosts, ...summary }: Task): void {
    this.task = summary;
    this.hosts = new Map(hosts.map((h) => [h.mac, h]));
  }

  /** Asks the API what the stream would not say: a 401 goes to the login page, a 404 is shown. */
  async #recover(): Promise<void> {
    try {
      this.#snapshot(await api.get<Task>(`/tasks/${seg(this.#id)}`));
    } catch (err) {
      if (err instanceof ApiError && err.status >= 400 && err.status < 500) {
        showError(err);
        return;
      }
    }
    if (!this.#closed) this.#retry = setTimeout(() => this.open(), RETRY_MS);
  }
}
