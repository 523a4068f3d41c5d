// Hash routing: the portal serves one index.html, and "#/tasks/12" survives a reload.

function read(): { path: string; query: URLSearchParams } {
  const [path, query] = location.hash.replace(/^#/, '').split('?');
  return { path: path || '/', query: new URLSearchParams(query) };
}

export const route = $state(read());

addEventListener('hashchange', () => Object.assign(route, read()));

export function go(path: string): void {
  location.hash = path;
}

/** The parameters of `path` if it matches `pattern` ("/tasks/:id"), else null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (const [i, part] of want.entries()) {
    if (part.startsWith(':')) params[part.slice(1)] = decodeURIComponent(got[i]!);
    else if (part !== got[i]) return null;
  }
  return params;
}

/**
 * Puts a page's view (search, filters, sort, page) into the address, so it survives a reload and
 * can be shared; replaces the history entry rather than adding one per keystroke. Empty values
 * are left out.
 */
export function setQuery(params: Record<string, string | number | undefined>): void {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  history.replaceState(null, '', `#${route.path}${s ? `?${s}` : ''}`);
  route.query = q;
}
