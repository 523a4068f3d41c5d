/** The items one of whose texts holds the query (trimmed, in any case); all of them for none. */
export function matching<T>(items: T[], query: string, texts: (item: T) => unknown[]): T[] {
  const q = query.trim().toLowerCase();
  if (!q) return items;
  return items.filter((item) =>
    texts(item).some((t) =>
      String(t ?? '')
        .toLowerCase()
        .includes(q),
    ),
  );
}
