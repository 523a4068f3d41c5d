/**
 * Max-min fair rates for flows over links (progressive filling): every flow's rate rises together
 * until a link is full, whose flows are then fixed, and so on. That is how TCP connections through
 * a common bottleneck come out on average (each gets an equal share of the link that limits it),
 * without simulating TCP. A flow may load a link by more or less than its rate (`weights`: a data
 * flow's frames cost more than its payload; its ACKs cost a little on the links going back).
 */

export interface FlowPath {
  /** Link ids this flow crosses. */
  links: ArrayLike<number>;
  /** Bytes on each of those links per byte of the flow's rate. */
  weights: ArrayLike<number>;
}

/**
 * Rates for `flows` given each link's capacity; `out` is filled (and returned). O(flows · links per
 * flow · log links).
 */
export function maxMinRates(flows: readonly FlowPath[], capacity: ArrayLike<number>, out: Float64Array = new Float64Array(flows.length)): Float64Array {
  const linkCount = capacity.length;
  const remaining = Float64Array.from(capacity);
  const weightSum = new Float64Array(linkCount);
  const start = new Int32Array(linkCount + 1);
  for (const f of flows) for (let k = 0; k < f.links.length; k++) start[f.links[k]! + 1]!++;
  for (let l = 0; l < linkCount; l++) start[l + 1]! += start[l]!;
  const members = new Int32Array(start[linkCount]!);
  const fill = start.slice(0, linkCount);
  flows.forEach((f, i) => {
    for (let k = 0; k < f.links.length; k++) {
      const l = f.links[k]!;
      members[fill[l]!++] = i;
      weightSum[l]! += f.weights[k]!;
    }
  });
  const fixed = new Uint8Array(flows.length);
  out.fill(0);
  // A heap of (level, link), stale entries skipped by comparing with the link's current level.
  const heapLevel: number[] = [];
  const heapLink: number[] = [];
  const push = (level: number, link: number): void => {
    let i = heapLevel.length;
    heapLevel.push(level);
    heapLink.push(link);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heapLevel[p]! <= level) break;
      heapLevel[i] = heapLevel[p]!;
      heapLink[i] = heapLink[p]!;
      i = p;
    }
    heapLevel[i] = level;
    heapLink[i] = link;
  };
  const pop = (): number => {
    const top = heapLink[0]!;
    const lastLevel = heapLevel.pop()!;
    const lastLink = heapLink.pop()!;
    const n = heapLevel.length;
    if (n) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heapLevel[c + 1]! < heapLevel[c]!) c++;
        if (heapLevel[c]! >= lastLevel) break;
        heapLevel[i] = heapLevel[c]!;
        heapLink[i] = heapLink[c]!;
        i = c;
      }
      heapLevel[i] = lastLevel;
      heapLink[i] = lastLink;
    }
    return top;
  };
  const level = (l: number): number => Math.max(0, remaining[l]!) / weightSum[l]!;
  for (let l = 0; l < linkCount; l++) if (weightSum[l]! > 0) push(level(l), l);
  // Links whose level moved while one link's flows were fixed: pushed again once, after.
  const touchedAt = new Int32Array(linkCount).fill(-1);
  const touched: number[] = [];
  let round = 0;
  while (heapLevel.length) {
    const topLevel = heapLevel[0]!;
    const l = pop();
    if (weightSum[l]! <= 1e-12) continue;
    const current = level(l);
    if (current > topLevel * (1 + 1e-12) + 1e-9) continue; // stale: a fresher entry is in the heap
    for (let m = start[l]!; m < start[l + 1]!; m++) {
      const i = members[m]!;
      if (fixed[i]) continue;
      fixed[i] = 1;
      out[i] = current;
      const f = flows[i]!;
      for (let k = 0; k < f.links.length; k++) {
        const other = f.links[k]!;
        remaining[other]! -= f.weights[k]! * current;
        weightSum[other]! -= f.weights[k]!;
        if (other !== l && touchedAt[other] !== round) {
          touchedAt[other] = round;
          touched.push(other);
        }
      }
    }
    weightSum[l] = 0;
    for (const other of touched) if (weightSum[other]! > 1e-12) push(level(other), other);
    touched.length = 0;
    round++;
  }
  return out;
}
