/**
 * What the portal and its callers (clients, seeders, trackers) say to each other over HTTP: one
 * zod schema per message, checked on both ends, so a client never acts on a half-understood reply.
 */
import { z } from 'zod';
import { IMAGE_TYPES } from '../image/manifest.js';
import { NodeJobOfferSchema } from './node-jobs.js';

export const API = '/api/v1';

const mac = z.string().regex(/^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/, 'a MAC address like 52:54:00:12:34:56');
export const MacSchema = mac;

/**
 * A host's name: it becomes the deployed system's hostname and Windows computer name, and lands in
 * files parsed line by line (/etc/hosts), so no space, newline or other punctuation gets in.
 */
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const isHostname = (s: string): boolean => HOST_NAME.test(s);
export const HostNameSchema = z.string().trim().regex(HOST_NAME, 'a host name: letters, digits and . _ - (at most 63)');

/**
 * The disk a network-booted PC deploys to: a device under /dev (/dev/sda, /dev/disk/by-id/…). It
 * lands on the client's kernel command line in the PC's boot script, where a space would add a
 * kernel argument and a newline an iPXE command: only these characters, no `.` or `..` step.
 */
const DISK_PATH = /^\/dev(\/[A-Za-z0-9_.+:@-]+)+$/;
export const isDiskPath = (s: string): boolean => s.length <= 128 && DISK_PATH.test(s) && !s.split('/').some((step) => step === '.' || step === '..');
export const DiskPathSchema = z
  .string()
  .trim()
  .refine(isDiskPath, 'a device under /dev, as /dev/sda or /dev/disk/by-id/ata-… (letters, digits and _ . + : @ -; at most 128)');

/** A seeder tells the portal what it holds, every few seconds. */
/**
 * What a node says of a multicast session it runs (or ran): udp-sender waiting for its receivers,
 * streaming, or over (done, failed, stopped because the portal no longer names it).
 */
export const MulticastStatusSchema = z.object({
  taskId: z.number().int(),
  state: z.enum(['waiting', 'streaming', 'done', 'failed', 'stopped']),
  /** Receivers udp-sender has in the session now. */
  receivers: z.number().int().nonnegative(),
  /** When the first receiver joined: udp-sender's maxWaitSeconds count from there. */
  firstJoinedAt: z.iso.datetime().nullable(),
});
export type MulticastStatus = z.infer<typeof MulticastStatusSchema>;

export const NodeHeartbeatSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9-]{1,64}$/),
  httpUrl: z.url(),
  /** host:port where it takes BitTorrent peers. */
  btAddr: z.string().min(3),
  images: z.array(z.object({ name: z.string(), version: z.number().int().positive(), infoHash: z.string().regex(/^[0-9a-f]{40}$/) })),
  /** Whether this node wants a copy of every published image it lacks. */
  replicate: z.boolean().default(false),
  /** Its store's filesystem, and its upload limit (bytes/s), for the portal's storage view. */
  capacityBytes: z.number().int().nonnegative().optional(),
  freeBytes: z.number().int().nonnegative().optional(),
  uploadLimit: z.number().int().nonnegative().optional(),
  /** What it uploads over BitTorrent now (bytes/s). */
  uploadBytesPerSec: z.number().nonnegative().optional(),
  /** Its multicast sessions, running or lately over. */
  multicast: z.array(MulticastStatusSchema).optional(),
  /** The node jobs it runs now (node-jobs.ts): a running job it does not name was lost. */
  jobs: z.array(z.number().int().positive()).optional(),
});
export type NodeHeartbeat = z.input<typeof NodeHeartbeatSchema>;

const ImageRefSchema = z.object({ name: z.string(), version: z.number().int().positive(), infoHash: z.string().regex(/^[0-9a-f]{40}$/) });

/** The portal's answer to a heartbeat: the published images this node should fetch. */
/** A multicast session a storage node is to run: stream this image on this port base. */
export const MulticastSessionSchema = z.object({
  taskId: z.number().int(),
  image: ImageRefSchema,
  portbase: z.number().int().min(1024).max(65534),
  minReceivers: z.number().int().positive(),
  maxWaitSeconds: z.number().int().positive(),
});
export type MulticastSession = z.infer<typeof MulticastSessionSchema>;

export const HeartbeatReplySchema = z.object({
  held: z.number().int(),
  replicate: z.array(ImageRefSchema),
  multicast: z.array(MulticastSessionSchema).default([]),
  /** Versions this node reported that an admin deleted: it stops seeding them and removes their files. */
  purge: z.array(ImageRefSchema).default([]),
  /** Node jobs for this node to start (node-jobs.ts); one it runs already is named again until it reports. */
  jobs: z.array(NodeJobOfferSchema).default([]),
  /**
   * The holders of the site keys revoked and not yet expired (shared/keys/swarm-key.ts
   * siteReadScope): the node refuses them. Until its first reply it honours no site key.
   */
  revokedSiteKeys: z.array(z.string()).default([]),
});

/** What a node needs to replicate an image through its swarm. */
export const ReplicaSourceSchema = z.object({
  image: ImageRefSchema,
  manifest: z.unknown(),
  torrent: z.string(),
  /** BitTorrent addresses of the live nodes holding it. */
  peers: z.array(z.string()),
  /** Their keyed web seed URLs, where the replicating node knocks before it connects. */
  webSeeds: z.array(z.string()).default([]),
});
export type ReplicaSource = z.infer<typeof ReplicaSourceSchema>;

/** Everything a PC needs to join an image's swarm. */
export const SwarmTicketSchema = z.object({
  image: z.object({ name: z.string(), version: z.number().int().positive(), infoHash: z.string() }),
  manifest: z.unknown(),
  /** The .torrent, base64. */
  torrent: z.string(),
  /** Tracker announce URLs carrying this host's key. */
  announce: z.array(z.string()),
  /** BEP 19 web seeds: the seeders' /images/NAME/. */
  webSeeds: z.array(z.string()),
  /** Seeders' host:port, tried directly so a tracker outage at start does not stall the PC. */
  peers: z.array(z.string()),
  /** The unicast sources: the same web seed URLs, the least loaded node first (tickets.ts). */
  unicast: z.array(z.string()).default([]),
  /**
   * The swarm's name in the lab's DHT (shared/swarm/lab-dht.ts), derived from the lab secret; the
   * seeders in `peers` answer DHT queries on the same port numbers over UDP.
   */
  dhtName: z
    .string()
    .regex(/^[0-9a-f]{40}$/)
    .optional(),
  keyExpiresAt: z.string(),
});
export type SwarmTicket = z.infer<typeof SwarmTicketSchema>;

export const TaskKindSchema = z.enum(['deploy', 'capture', 'multicast']);
export type TaskKind = z.infer<typeof TaskKindSchema>;
const name = z.string().trim().min(1).max(64);
export const CreateTaskSchema = z
  .object({
    kind: TaskKindSchema,
    image: name,
    version: z.number().int().positive().optional(),
    /** The PCs: a list of MACs, or every host of a group (as it is when the task is made). */
    hosts: z.array(mac).min(1).max(5000).optional(),
    group: name.optional(),
    /** Not before this time (ISO 8601); now when absent. */
    scheduledAt: z.iso.datetime({ offset: true }).optional(),
    /** Capture: the image type, and the storage node to send it to (default: one that is up). */
    type: z.enum(IMAGE_TYPES).optional(),
    node: z.string().optional(),
    /** Seconds a finished PC keeps seeding at most, when the group is not done before. */
    lingerSeconds: z.number().int().nonnegative().max(86_400).default(600),
    /**
     * Start together: the deploy begins when this many of its PCs are ready, or maxWaitSeconds after
     * the first was, with whoever came. Multicast always waits (default: every PC, 300 s); a swarm
     * deploy waits only when minReceivers is given (otherwise each PC starts as soon as it is ready).
     */
    minReceivers: z.number().int().positive().max(5000).optional(),
    maxWaitSeconds: z.number().int().positive().max(86_400).optional(),
    /** What a network-booted PC does when its part is over: boot into its disk, or power off. */
    finish: z.enum(['reboot', 'poweroff']).default('reboot'),
    /** Wake the PCs (Wake-on-LAN) when the task starts, this many a second so a room does not power on at once. */
    wake: z.boolean().default(true),
    wakePerSecond: z.number().positive().max(1000).default(5),
    /** A capture: deploys may pick the captured version at once, with no admin's review first. */
    publish: z.boolean().optional(),
  })
  .strict()
  .refine((t) => (t.hosts ? 1 : 0) + (t.group ? 1 : 0) === 1, { message: 'give either hosts (a list of MACs) or group', path: ['hosts'] });
export type CreateTask = z.input<typeof CreateTaskSchema>;

/** What a PC says of itself when it registers (all but the MAC optional: quick registration). */
export const InventorySchema = z
  .object({
    cpu: z.string().max(200).optional(),
    cores: z.number().int().positive().optional(),
    memoryBytes: z.number().int().nonnegative().optional(),
    disks: z
      .array(z.object({ name: z.string().max(64), sizeBytes: z.number().int().nonnegative(), model: z.string().max(200).optional() }))
      .max(64)
      .optional(),
    nics: z
      .array(z.object({ name: z.string().max(64), mac: z.string().max(64), cidr: z.string().max(64).optional() }))
      .max(64)
      .optional(),
    firmware: z.enum(['bios', 'uefi']).optional(),
  })
  .strict();
export type Inventory = z.infer<typeof InventorySchema>;

export const RegisterHostSchema = z
  .object({
    mac,
    name: HostNameSchema.optional(),
    disk: DiskPathSchema.optional(),
    group: name.optional(),
    image: name.optional(),
    /** The group's registration secret: the PC joins the group at once instead of waiting for approval. */
    secret: z.string().min(1).max(200).optional(),
    inventory: InventorySchema.optional(),
  })
  .strict();
export type RegisterHost = z.infer<typeof RegisterHostSchema>;

/** What a PC gets when it asks for its task: nothing pending, or a deploy with its ticket. */
export const HostTaskSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }),
  z.object({
    kind: z.literal('deploy'),
    taskId: z.number().int(),
    key: z.string(),
    lingerSeconds: z.number().int(),
    ticket: SwarmTicketSchema,
    /** How the admin asked for the image to travel. */
    transport: z.enum(['swarm', 'multicast']).default('swarm'),
    /** A multicast task's session: where the storage node streams (udpcast's port base). */
    multicast: z.object({ portbase: z.number().int(), maxWaitSeconds: z.number().int().positive() }).optional(),
    /**
     * This PC's share of the group: the slice of pieces it fetches from the storage nodes; and, once
     * the portal knows every member's room (/24), its part of its room: the slice it fetches from
     * PCs of other rooms (client/swarm/piece-order.ts).
     */
    share: z.object({
      index: z.number().int().nonnegative(),
      count: z.number().int().positive(),
      room: z.object({ index: z.number().int().nonnegative(), count: z.number().int().positive() }).optional(),
    }),
    /** A swarm deploy that starts together: report `waiting` until the portal answers `start`. */
    startTogether: z.object({ minReceivers: z.number().int().positive(), maxWaitSeconds: z.number().int().positive() }).optional(),
    /** The PC's own name for the deployed systems, from its host record (absent: the image turns it off, or the host has no name). */
    identity: z.object({ hostname: HostNameSchema }).optional(),
  }),
  z.object({
    kind: z.literal('capture'),
    taskId: z.number().int(),
    key: z.string(),
    image: z.string(),
    version: z.number().int().positive(),
    type: z.enum(IMAGE_TYPES),
    /** The storage node's HTTP URL, and the upload to resume when an earlier try was cut off. */
    nodeUrl: z.string(),
    resume: z.string().optional(),
  }),
]);
export type HostTask = z.infer<typeof HostTaskSchema>;

/** What a PC reports of itself. */
export const HostStateSchema = z.enum(['waiting', 'running', 'seeding', 'done', 'failed']);
export type HostState = z.infer<typeof HostStateSchema>;

/**
 * A host's state in a task, as the portal keeps it: queued until it asks for its task (booting);
 * waiting: ready, until its group starts together.
 */
export const TaskHostStateSchema = z.enum(['queued', 'booting', 'waiting', 'running', 'seeding', 'done', 'failed', 'cancelled']);
export type TaskHostState = z.infer<typeof TaskHostStateSchema>;

/** A PC's progress, every second or so. */
export const ProgressSchema = z.object({
  state: HostStateSchema,
  piecesDone: z.number().int().nonnegative(),
  piecesTotal: z.number().int().nonnegative(),
  bytesDone: z.number().nonnegative(),
  bytesTotal: z.number().nonnegative(),
  downloadBytesPerSec: z.number().nonnegative(),
  uploadBytesPerSec: z.number().nonnegative(),
  downloadedBytes: z.number().nonnegative(),
  uploadedBytes: z.number().nonnegative(),
  /** Of downloadedBytes, what came from storage nodes (the rest came from other PCs). */
  fromStorageBytes: z.number().nonnegative().default(0),
  peers: z.number().int().nonnegative(),
  /** The transport fetching now, and the pieces each one wrote (pieces found on disk in neither). */
  transport: z.enum(['swarm', 'unicast', 'multicast']).optional(),
  piecesByTransport: z
    .object({ swarm: z.number().int().nonnegative(), unicast: z.number().int().nonnegative(), multicast: z.number().int().nonnegative() })
    .partial()
    .optional(),
  error: z.string().max(2000).optional(),
  /**
   * With state failed: the deploy had wiped the disk's partition table (it is written last), so the
   * PC will not boot its old system; the portal keeps its task for the next network boot.
   */
  tableWiped: z.boolean().optional(),
  /** A capture's upload on the storage node (kept by the portal so a restarted PC can resume it). */
  uploadId: z.string().optional(),
  /** The answer to the portal's challenge, with state seeding or done: SHA-256 over the nonce and the pieces' data on disk. */
  proof: z
    .object({ nonce: z.string().regex(/^[0-9a-f]{32}$/), digest: z.string().regex(/^[0-9a-f]{64}$/) })
    .strict()
    .optional(),
});
export type Progress = z.infer<typeof ProgressSchema>;

/**
 * The portal's answer to a progress report: whether the whole group is done (PCs stop lingering),
 * and whether a PC waiting to start together may start (a portal without start gates: always).
 */
/** The portal's challenge to a PC that says it holds the image (portal/tasks/proof.ts): answer it in the report's proof. */
export const ChallengeSchema = z.object({ nonce: z.string().regex(/^[0-9a-f]{32}$/), pieces: z.array(z.number().int().nonnegative()).max(16) });
export const ProgressReplySchema = z.object({
  groupDone: z.boolean(),
  start: z.boolean().default(true),
  challenge: ChallengeSchema.optional(),
  /** An admin cancelled this PC's part of the task: it stops. */
  cancelled: z.boolean().optional(),
});
export type ProgressReply = z.infer<typeof ProgressReplySchema>;

/** Every API failure has this shape. */
export const ApiErrorSchema = z.object({ error: z.string(), field: z.string().optional() });
