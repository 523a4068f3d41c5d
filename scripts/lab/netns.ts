/**
 * The lab simulator's network: a server namespace and N client namespaces, each joined by a veth
 * pair to one bridge that is attached to nothing else (so nothing leaves the machine), every link
 * shaped with tc tbf in both directions (egress of the namespace's end = its upload, egress of the
 * bridge's end = its download). netem does not work here, so a lossy client drops a share of its
 * incoming packets with iptables' statistic match instead. The bridge gets the last address of
 * the subnet so that this process (the harness, in the root namespace) can reach the portal.
 *
 * Everything is named after this process's pid, so a run that died leaves names that
 * sweepStaleLabNets() recognises and removes; teardown() runs on exit and on SIGINT/SIGTERM too.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const PREFIX = 'shoal-lab-';
/** Link names: at most 15 characters, and a shape no other software's links have. */
const LINK = /^shoal([0-9a-z]{1,5})-(br|srv|c\d{1,3}|vm\d{1,2})$/;
const linkName = (id: string, name: string): string => `shoal${id}-${name}`;
const LAB_PREFIX = '10.77';
const SUBNET = `${LAB_PREFIX}.0`;
/** The server is .1, clients from .10; the bridge (harness) is .254. */
const SERVER_ADDR = `${SUBNET}.1`;
const HARNESS_ADDR = `${SUBNET}.254`;
export const MAX_CLIENTS = 200;

export interface LabHost {
  ns: string;
  addr: string;
  /** Runs a command inside the namespace. */
  spawn(cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
}

export interface LabNetOptions {
  clients: number;
  /** Each client's link, both ways, Mbit/s. */
  clientMbit: number;
  /** The server's link, both ways, Mbit/s. */
  serverMbit: number;
  /** A client whose link runs at clientMbit × factor. */
  slow?: { index: number; factor: number };
  /** A client that drops this percentage of the packets it receives. */
  lossy?: { index: number; percent: number };
  /** TCP congestion control in every namespace (DEFAULT_TCP_CC if not given). */
  tcpCongestion?: string;
  /**
   * Rooms: the clients split into this many runs of consecutive clients, each in its own /24
   * (10.77.1.0/24, 10.77.2.0/24, …; the server stays in 10.77.0.0/24), all on the one bridge with
   * a /16 route on the link, so that what keys on a PC's room (the tracker's peer order, the
   * client's room-first rule) sees several. Default 1: every host in one /24.
   */
  rooms?: number;
}

/**
 * What the PCs' and the server's kernels use unless told otherwise (Debian's, as in the boot
 * image). A namespace otherwise takes the host's: this VM's is bbr, with which the swarm at N = 16
 * took 1.52x its bound against 1.36x with cubic (docs/benchmarks.md, "The lab's TCP"): a benchmark must not
 * depend on the machine it runs on.
 */
export const DEFAULT_TCP_CC = 'cubic';

export interface LabNet {
  /** The TCP congestion control the namespaces run: the one asked for, or the host's when the kernel would not allow it. */
  tcpCongestion: string;
  server: LabHost;
  clients: LabHost[];
  harnessAddr: string;
  /** A tap device on the bridge for virtual machine `index` (qemu -netdev tap,ifname=…), torn down with the rest. */
  addTap(index: number): string;
  teardown(): void;
}

const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const quiet = (f: () => void): void => {
  try {
    f();
  } catch {
    /* already gone */
  }
};

/** tbf wants a burst of at least rate/HZ; 10 ms of the rate, and no less than 16 KiB. */
function shape(ns: string | undefined, dev: string, mbit: number): void {
  const burst = Math.max(16 * 1024, Math.ceil((mbit * 1e6) / 8 / 100));
  execFileSync(
    'tc',
    [...(ns ? ['-n', ns] : []), 'qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', `${mbit}mbit`, 'burst', String(burst), 'latency', '100ms'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
}

/**
 * `ip netns del` only drops the name: processes still inside (a PC, or the portal that `shoal
 * start` spawned, when the harness was interrupted) go on running, holding the namespace and
 * their ports. Kill them first.
 */
function removeNamespace(ns: string): void {
  let pids: number[] = [];
  quiet(() => {
    pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  });
  for (const pid of pids) quiet(() => process.kill(pid, 'SIGKILL'));
  quiet(() => ip('netns', 'del', ns));
}

function host(ns: string, addr: string): LabHost {
  return { ns, addr, spawn: (cmd, args, opts = {}) => spawn('ip', ['netns', 'exec', ns, cmd, ...args], opts) };
}

export function createLabNet(o: LabNetOptions): LabNet {
  if (!Number.isInteger(o.clients) || o.clients < 0 || o.clients > MAX_CLIENTS) throw new Error(`clients: 0 to ${MAX_CLIENTS}`);
  if (!(o.clientMbit > 0) || !(o.serverMbit > 0)) throw new Error('link rates must be positive');
  const tcp = congestionControl(o.tcpCongestion ?? DEFAULT_TCP_CC);
  sweepStaleLabNets();
  const id = process.pid.toString(36);
  const bridge = linkName(id, 'br');
  const namespaces: string[] = [];
  const links: string[] = [bridge];
  let torn = false;
  const onSignal = (): void => {
    teardown();
    process.exit(130);
  };
  const teardown = (): void => {
    if (torn) return;
    torn = true;
    // One process runs many labs (bench:lab): each takes its listeners away with it.
    process.off('exit', teardown);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const ns of namespaces) removeNamespace(ns);
    for (const l of links) quiet(() => ip('link', 'del', l));
  };
  process.once('exit', teardown);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${HARNESS_ADDR}/24`, 'brd', '+', 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    const rooms = o.rooms ?? 1;
    if (!Number.isInteger(rooms) || rooms < 1 || rooms > Math.max(1, o.clients)) throw new Error(`rooms: 1 to the number of clients`);
    const add = (name: string, addr: string, mbit: number, lossPercent?: number): LabHost => {
      const ns = `${PREFIX}${process.pid}-${name}`;
      const hostEnd = linkName(id, name);
      ip('netns', 'add', ns);
      namespaces.push(ns);
      ip('link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      links.push(hostEnd);
      ip('link', 'set', hostEnd, 'master', bridge, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      tcp.set(ns);
      // udpcast needs the broadcast address: without it receivers call out to 0.0.0.0.
      ip('-n', ns, 'addr', 'add', `${addr}/24`, 'brd', '+', 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      if (rooms > 1) ip('-n', ns, 'route', 'add', `${LAB_PREFIX}.0.0/16`, 'dev', 'eth0');
      shape(ns, 'eth0', mbit);
      shape(undefined, hostEnd, mbit);
      if (lossPercent) {
        execFileSync('ip', [
          'netns',
          'exec',
          ns,
          'iptables',
          '-A',
          'INPUT',
          '-m',
          'statistic',
          '--mode',
          'random',
          '--probability',
          String(lossPercent / 100),
          '-j',
          'DROP',
        ]);
      }
      return host(ns, addr);
    };
    const server = add('srv', SERVER_ADDR, o.serverMbit);
    const clients = Array.from({ length: o.clients }, (_, i) =>
      add(
        `c${i}`,
        rooms > 1 ? `${LAB_PREFIX}.${1 + Math.floor((i * rooms) / o.clients)}.${10 + i}` : `${SUBNET}.${10 + i}`,
        o.slow?.index === i ? o.clientMbit * o.slow.factor : o.clientMbit,
        o.lossy?.index === i ? o.lossy.percent : undefined,
      ),
    );
    const addTap = (index: number): string => {
      const tap = linkName(id, `vm${index}`);
      ip('tuntap', 'add', 'dev', tap, 'mode', 'tap');
      links.push(tap);
      ip('link', 'set', tap, 'master', bridge, 'up');
      return tap;
    };
    return { tcpCongestion: tcp.name, server, clients, harnessAddr: HARNESS_ADDR, addTap, teardown };
  } catch (err) {
    teardown();
    throw err;
  } finally {
    tcp.restore();
  }
}

const ALLOWED_CC = '/proc/sys/net/ipv4/tcp_allowed_congestion_control';
const readList = (path: string): string[] => readFileSync(path, 'utf8').trim().split(/\s+/).filter(Boolean);

/**
 * A namespace may pick only the algorithms in the host's allowed list (on these machines "reno
 * bbr", without the cubic the PCs' kernels run). Root may add one there: it is added for as long
 * as the namespaces are set up, then the host's list is put back (a namespace keeps what it was
 * set to). A host that refuses even that keeps its own algorithm in every namespace, and says so.
 */
export function congestionControl(wanted: string): { name: string; set(ns: string): void; restore(): void } {
  const available = readList('/proc/sys/net/ipv4/tcp_available_congestion_control');
  if (!available.includes(wanted)) {
    // Built as a module but not loaded yet: loading it is what a first setsockopt would do.
    quiet(() => void execFileSync('modprobe', [`tcp_${wanted}`], { stdio: 'ignore' }));
    if (!readList('/proc/sys/net/ipv4/tcp_available_congestion_control').includes(wanted)) {
      throw new Error(`TCP congestion control ${wanted} is not in this kernel (it has ${available.join(', ')})`);
    }
  }
  let original: string[] | undefined;
  let name = wanted;
  const allow = (): boolean => {
    const allowed = readList(ALLOWED_CC);
    if (allowed.includes(wanted)) return true;
    try {
      writeFileSync(ALLOWED_CC, [...allowed, wanted].join(' '));
      original ??= allowed;
      return true;
    } catch (err) {
      name = readFileSync('/proc/sys/net/ipv4/tcp_congestion_control', 'utf8').trim();
      console.warn(
        `lab: TCP ${wanted} is not allowed on this host and could not be allowed (${(err as Error).message}): the namespaces run the host's ${name}`,
      );
      return false;
    }
  };
  const write = (ns: string): void =>
    void execFileSync('ip', ['netns', 'exec', ns, 'tee', '/proc/sys/net/ipv4/tcp_congestion_control'], { input: name, stdio: ['pipe', 'ignore', 'pipe'] });
  const usable = allow();
  return {
    get name() {
      return name;
    },
    set(ns) {
      if (!usable) return;
      try {
        write(ns);
      } catch {
        // Another lab on this host may have put the list back meanwhile: allow again, once.
        allow();
        write(ns);
      }
    },
    restore() {
      if (original) quiet(() => writeFileSync(ALLOWED_CC, original!.join(' ')));
      original = undefined;
    },
  };
}

/** Removes the namespaces and links of lab runs whose process is gone. */
export function sweepStaleLabNets(): string[] {
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns');
  } catch {
    /* no namespaces at all */
  }
  for (const ns of names) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(ns);
    if (m && !alive(Number(m[1]))) {
      removeNamespace(ns);
      removed.push(ns);
    }
  }
  for (const l of linkNames()) {
    const m = LINK.exec(l);
    if (m && !alive(parseInt(m[1]!, 36))) {
      quiet(() => ip('link', 'del', l));
      removed.push(l);
    }
  }
  return removed;
}

/** Names of this machine's lab namespaces and links now (for tests that check teardown). */
export function labLeftovers(): string[] {
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns').filter((n) => n.startsWith(PREFIX));
  } catch {
    /* none */
  }
  return [...names, ...linkNames().filter((l) => LINK.test(l))];
}

function linkNames(): string[] {
  return execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1])
    .filter((n): n is string => !!n);
}
