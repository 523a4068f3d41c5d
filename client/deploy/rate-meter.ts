/** Bytes per second over the last few seconds, as the swarm's speeds are (webtorrent's speedometer). */
const WINDOW_S = 5;

export class RateMeter {
  private readonly buckets = new Array<number>(WINDOW_S).fill(0);
  private second = Math.floor(Date.now() / 1000);

  private roll(): void {
    const now = Math.floor(Date.now() / 1000);
    // At most WINDOW_S buckets to clear, however long it was idle.
    for (let s = this.second + 1; s <= now && s <= this.second + WINDOW_S; s++) this.buckets[s % WINDOW_S] = 0;
    this.second = now;
  }

  add(bytes: number): void {
    this.roll();
    this.buckets[this.second % WINDOW_S]! += bytes;
  }

  perSecond(): number {
    this.roll();
    return this.buckets.reduce((a, b) => a + b, 0) / WINDOW_S;
  }
}
