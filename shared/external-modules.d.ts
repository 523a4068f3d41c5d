// Packages that ship no types of their own; only what Shoal uses is declared.
declare module 'create-torrent' {
  function createTorrent(input: string[] | string, opts: Record<string, unknown>, cb: (err: Error | null, torrent: Buffer) => void): void;
  export default createTorrent;
}
declare module 'bencode' {
  const bencode: { encode(v: unknown): Uint8Array; decode(b: Uint8Array, encoding?: string): unknown };
  export default bencode;
}
