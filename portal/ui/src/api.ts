import { session } from './session.svelte';

const BASE = '/api/v1';

/**
 * A failed call: the server's `{error}` text as the message, the HTTP status (0: unreachable),
 * and the body's field at fault when the server named one.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

async function request<T>(method: string, path: string, body?: unknown, type = 'application/json'): Promise<T> {
  let res: Response;
  try {
    res = await fetch(BASE + path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': type },
      body: body === undefined ? undefined : type === 'application/json' ? JSON.stringify(body) : String(body),
    });
  } catch (err) {
    throw new ApiError(0, `the portal cannot be reached (${(err as Error).message})`);
  }
  // The session ended (expired, or logged out elsewhere): back to the login page. A 401 from
  // /session itself is a wrong password or no session yet, which the caller shows.
  if (res.status === 401 && path !== '/session') session.user = null;
  if (!res.ok) {
    const { error, field } = await errorOf(res);
    throw new ApiError(res.status, error, field);
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

async function errorOf(res: Response): Promise<{ error: string; field?: string }> {
  const text = await res.text();
  try {
    const { error, field } = JSON.parse(text) as { error?: unknown; field?: unknown };
    if (typeof error === 'string') return { error, ...(typeof field === 'string' && { field }) };
  } catch {
    // not JSON (a proxy's error page): fall through to the status line
  }
  return { error: `${res.status} ${res.statusText}`.trim() };
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body: unknown = {}) => request<T>('POST', path, body),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, body),
  del: (path: string) => request<void>('DELETE', path),
  postCsv: <T>(path: string, csv: string) => request<T>('POST', path, csv, 'text/csv'),
};

/** A path segment from a name or MAC. */
export const seg = encodeURIComponent;

/** A query string from the non-empty values, with its "?" (or nothing). */
export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
