/**
 * The Node flags a PC's client runs with, wherever it is started: the boot image's init
 * (scripts/boot/init.sh, which a unit test holds to this list), the lab simulator and the benches.
 *
 * Why: V8 sizes the old generation's first allocation limit for a small heap (about 40 MB here), and
 * a PC's heap sits near 20 MB while buffers pass through it, so at a lab's link rates V8 kept
 * starting incremental marking on a timer: 31 full collections in a 22 s deploy at 8 MiB/s, against
 * 9 with no limit. With the first limit at 128 MB there were 4, and the client's CPU per wire MiB at
 * 8 MiB/s fell from 22.4 to 15.7 ms (unicast 19.2 to 14.5; bench:swarm's client-CPU section,
 * 2026-12-04). The flag must be given on the command line: v8.setFlagsFromString after start-up
 * does not move a limit already set, and NODE_OPTIONS refuses it. A PC has the memory to spare.
 *
 * `--no-memory-reducer`: V8's memory reducer takes a PC held to a lab's link rate for an idle
 * process, and every few seconds marks and compacts the whole heap to hand pages back, which are
 * faulted in again at once. One PC held to 0.25 MiB/s on loopback, CPU from 5 to 25 s, two
 * rounds alternated (2026-12-05): swarm 24.0 and 22.5 ms/s with it, 14.5 and 14.5 without;
 * unicast 16.5 and 17.5 with it, 10.0 and 8.5 without. At 8 MiB/s the swarm took 106.6 and 88.0
 * ms/s with it, 82.6 and 82.7 without; unicast moved within its noise (60.0, 58.0 against 57.0, 66.7).
 */
export const PC_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128', '--no-memory-reducer'];
