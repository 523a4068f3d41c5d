/**
 * What keeps password guessing slow and cheap for the portal: scrypt on its own thread with a
 * bounded queue (a flood gets 429 at once rather than a queue that starves the API), the same
 * work for an unknown user as for a known one (no name can be told apart by the time it takes),
 * and backoff per user name and per address after repeated failures.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { HttpError } from '../../shared/http/errors.js';

/** Failures allowed before backoff; then 1 s, 2 s, 4 s … up to MAX_BACKOFF_MS between tries. */
const FREE_FAILURES = 3;
const MAX_BACKOFF_MS = 15 * 60_000;
/** Hashes waiting beyond the one running: more, and a login gets 429 at once. */
const MAX_WAITING = 8;
/** Entries kept (user names and addresses); the oldest go first. */
const MAX_TRACKED = 10_000;
const KEY_BYTES = 32;

interface Failures {
  count: number;
  until: number;
  /** The hold (its `until`) whose first refused try was reported already. */
  reported?: number;
}

export class PasswordHasher {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./password-worker.js', import.meta.url));
    w.on('message', (m: { id: number; hash?: Uint8Array; error?: string }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.hash) p?.resolve(Buffer.from(m.hash));
      else p?.reject(new Error(m.error ?? 'scrypt failed'));
    });
    w.on('error', (err) => {
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.worker = undefined;
    });
    w.unref();
    this.worker = w;
    return w;
  }

  /** scrypt on the hashing thread; 429 when too many wait already. */
  scrypt(password: string, salt: Buffer, keylen: number): Promise<Buffer> {
    if (this.pending.size > MAX_WAITING) return Promise.reject(new HttpError(429, 'the portal is busy checking other logins: try again in a few seconds'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.thread().postMessage({ id, password, salt, keylen });
    });
  }

  async hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    return `scrypt$${salt.toString('base64')}$${(await this.scrypt(password, salt, KEY_BYTES)).toString('base64')}`;
  }

  /** Whether `password` matches `stored`; with no stored hash (an unknown user) the same work is done and the answer is no. */
  async matches(password: string, stored: string | undefined): Promise<boolean> {
    const [kind, salt, hash] = (stored ?? '').split('$');
    const known = kind === 'scrypt' && Boolean(salt) && Boolean(hash);
    const want = known ? Buffer.from(hash!, 'base64') : Buffer.alloc(KEY_BYTES);
    const got = await this.scrypt(password, known ? Buffer.from(salt!, 'base64') : randomBytes(16), want.length);
    return known && timingSafeEqual(got, want);
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }
}

/** How long a refused login waits for its 429, and how many may wait at once (the rest are answered at once). */
const TARPIT_MS = 2_000;
const TARPIT_MAX = 2_000;

export class LoginGuard {
  private readonly failures = new Map<string, Failures>();
  private tarpitted = 0;
  /**
   * Told of the first refused try of each hold (a user name or an address held until its wait is
   * over), for the audit log: one entry per hold, however many tries a guessing loop sends.
   */
  onHeld: ((user: string, ip: string, retryAfterSeconds: number) => void) | undefined;

  /**
   * Waits before a refusal is sent: a timer, no work. A guessing loop that waits for its answers
   * then sends one every two seconds per connection instead of thousands a second, which would
   * take the CPU the PCs' reports need even when each is refused at once.
   */
  async slowRefusal(err?: unknown): Promise<void> {
    if (this.tarpitted >= TARPIT_MAX) return;
    // Never past the end of the wait it announces: the answer says when to try again.
    const wait = Math.min(TARPIT_MS, ((err as { retryAfterSeconds?: number })?.retryAfterSeconds ?? Infinity) * 1000);
    this.tarpitted++;
    try {
      await new Promise((r) => setTimeout(r, wait));
    } finally {
      this.tarpitted--;
    }
  }

  constructor(private readonly now = () => Date.now()) {}

  /** Throws 429 with Retry-After when the user name or the address must wait. */
  check(user: string, ip: string): void {
    const t = this.now();
    const keys = [...(user ? [`user:${user}`] : []), `ip:${ip}`];
    const wait = Math.max(...keys.map((k) => (this.failures.get(k)?.until ?? 0) - t));
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      let first = false;
      for (const k of keys) {
        const f = this.failures.get(k);
        if (f && f.until > t && f.reported !== f.until) {
          f.reported = f.until;
          first = true;
        }
      }
      if (first) this.onHeld?.(user, ip, seconds);
      throw Object.assign(new HttpError(429, `too many wrong logins for this user or from this address: try again in ${seconds} s`), {
        retryAfterSeconds: seconds,
      });
    }
  }

  /** Throws 429 when the address must wait: checked before the body is read, so a flood from held addresses costs next to nothing. */
  checkAddress(ip: string): void {
    this.check('', ip);
  }

  /** Records a wrong login; returns the backoff it starts (ms), 0 while failures are still free. */
  failed(user: string, ip: string): number {
    let longest = 0;
    for (const k of [`user:${user}`, `ip:${ip}`]) {
      const f = this.failures.get(k) ?? { count: 0, until: 0 };
      f.count++;
      const backoff = f.count < FREE_FAILURES ? 0 : Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (f.count - FREE_FAILURES));
      f.until = this.now() + backoff;
      longest = Math.max(longest, backoff);
      this.failures.delete(k);
      this.failures.set(k, f);
    }
    while (this.failures.size > MAX_TRACKED) this.failures.delete(this.failures.keys().next().value!);
    return longest;
  }

  succeeded(user: string, ip: string): void {
    this.failures.delete(`user:${user}`);
    this.failures.delete(`ip:${ip}`);
  }
}
