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
 */
export const PC_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128'];
