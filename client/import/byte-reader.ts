import { ShoalError } from '../../shared/errors.js';

/**
 * Exact reads from a stream of chunks (a decompressor's stdout): a foreign image is parsed as it
 * arrives, never staged on disk. A stream that ends early is an error that names its file.
 */
export class ByteReader {
  private readonly chunks: Buffer[] = [];
  private held = 0;
  private ended = false;
  /** Bytes handed out so far: where in the stream an error was found. */
  position = 0;

  constructor(
    private readonly source: AsyncIterator<Buffer>,
    readonly what: string,
  ) {}

  private async fill(n: number): Promise<void> {
    while (this.held < n && !this.ended) {
      const next = await this.source.next();
      if (next.done) this.ended = true;
      else if (next.value.length) {
        this.chunks.push(next.value);
        this.held += next.value.length;
      }
    }
  }

  /** Exactly n bytes; `during` says what was being read when the stream ran out. */
  async read(n: number, during: string): Promise<Buffer> {
    await this.fill(n);
    if (this.held < n) {
      throw new ShoalError(`${this.what}: the stream ends at byte ${this.position + this.held}, in ${during} (truncated?)`);
    }
    let out: Buffer;
    const first = this.chunks[0]!;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const c = this.chunks[0]!;
        const take = Math.min(c.length, n - at);
        c.copy(out, at, 0, take);
        at += take;
        if (take === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(take);
      }
    }
    this.held -= n;
    this.position += n;
    return out;
  }

  /** The next bytes as they come, at most n and at least one; the end of the stream is an error. */
  async readUpTo(n: number, during: string): Promise<Buffer> {
    await this.fill(1);
    const first = this.chunks[0];
    if (!first) throw new ShoalError(`${this.what}: the stream ends at byte ${this.position}, in ${during} (truncated?)`);
    const out = first.length <= n ? first : first.subarray(0, n);
    if (out === first) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.held -= out.length;
    this.position += out.length;
    return out;
  }

  /** The next bytes as they come, whatever their number; undefined at the end. */
  async readSome(): Promise<Buffer | undefined> {
    await this.fill(1);
    const chunk = this.chunks.shift();
    if (!chunk) return undefined;
    this.held -= chunk.length;
    this.position += chunk.length;
    return chunk;
  }

  /** How many bytes follow: the stream is read to its end. */
  async remaining(): Promise<number> {
    let n = this.held;
    this.chunks.length = 0;
    this.held = 0;
    while (!this.ended) {
      const next = await this.source.next();
      if (next.done) this.ended = true;
      else n += next.value.length;
    }
    return n;
  }
}
