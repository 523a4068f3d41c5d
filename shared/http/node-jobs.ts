/**
 * Node jobs: the portal asks a storage node to make a new version of an image — by importing a
 * FOG or Clonezilla folder on the node (`shoal import`), or by pulling a version from another Shoal
 * site's seeder — the node reports its progress, and the version it publishes in its store is
 * registered like any other (its next report). What the portal and the node say to each other of
 * them, and what the admin's routes answer.
 */
import { z } from 'zod';
import { IMAGE_TYPES } from '../image/manifest.js';

export const NODE_JOB_KINDS = ['import', 'pull'] as const;
export const IMPORT_FORMATS = ['fog', 'clonezilla'] as const;
export const NODE_JOB_STATES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const;
export const NodeJobStateSchema = z.enum(NODE_JOB_STATES);
export type NodeJobState = z.infer<typeof NodeJobStateSchema>;

/** A folder on the node, under its import root: no ".." step, no NUL (the node checks the rest). */
export const ImportDirSchema = z
  .string()
  .min(1)
  .max(4096)
  .refine((d) => !d.split(/[/\\]/).includes('..'), 'a folder under the storage node\'s import root, without ".." steps');

/** Where a pull reads from: the source site's seeder, the key that site issued, its image and version (newest if none). */
export const PullSourceSchema = z
  .object({
    url: z.url({ protocol: /^https?$/ }),
    key: z.string().min(1).max(300),
    image: z.string().min(1).max(128),
    version: z.number().int().positive().optional(),
  })
  .strict();
export type PullSource = z.infer<typeof PullSourceSchema>;

/** What the portal hands a node in its heartbeat reply: a job to start (its image name and version assigned). */
export const NodeJobOfferSchema = z.object({
  id: z.number().int().positive(),
  image: z.string(),
  version: z.number().int().positive(),
  job: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('import'), format: z.enum(IMPORT_FORMATS), dir: z.string(), type: z.enum(IMAGE_TYPES).optional() }),
    z.object({ kind: z.literal('pull'), source: PullSourceSchema }),
  ]),
});
export type NodeJobOffer = z.infer<typeof NodeJobOfferSchema>;

/** A node's report of a job, about once a second while it runs, and once at its end. */
export const NodeJobReportSchema = z
  .object({
    state: z.enum(['running', 'done', 'failed']),
    doneBytes: z.number().nonnegative(),
    totalBytes: z.number().nonnegative(),
    error: z.string().max(2000).optional(),
    /**
     * Done: the version it published (infohash as in its store). Running: the one it is about to
     * make, once it knows (a pull, before its pieces): the portal stops a job whose version it
     * holds already under another name or number.
     */
    infoHash: z
      .string()
      .regex(/^[0-9a-f]{40}$/)
      .optional(),
  })
  .strict();
export type NodeJobReport = z.infer<typeof NodeJobReportSchema>;

/** The portal's answer: whether the job is to stop (an admin cancelled it, or why not), publishing nothing. */
export const NodeJobReplySchema = z.object({ cancel: z.boolean(), reason: z.string().optional() });

// ---- the admin's routes ----

export const CreateNodeJobSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('import'),
      /** The image name the new version goes under (made if new). */
      image: z.string().trim().min(1).max(128),
      node: z.string().optional(),
      format: z.enum(IMPORT_FORMATS),
      dir: ImportDirSchema,
      type: z.enum(IMAGE_TYPES).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('pull'),
      image: z.string().trim().min(1).max(128),
      /** The node that fetches it; default: the live node with the most free space. */
      node: z.string().optional(),
      source: PullSourceSchema,
    })
    .strict(),
]);
export type CreateNodeJob = z.input<typeof CreateNodeJobSchema>;

export const NodeJobSchema = z.object({
  id: z.number().int(),
  kind: z.enum(NODE_JOB_KINDS),
  state: NodeJobStateSchema,
  node: z.string(),
  image: z.string(),
  version: z.number().int(),
  /** What it works on, in words: "fog folder lab/win10", "https://b.example:8081 lab v3" (no key). */
  what: z.string(),
  doneBytes: z.number().nonnegative(),
  totalBytes: z.number().nonnegative(),
  error: z.string().nullable(),
  infoHash: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
export type NodeJob = z.infer<typeof NodeJobSchema>;
export const NodeJobListSchema = z.object({ jobs: z.array(NodeJobSchema) });

// ---- site keys: the read keys this site issues others ----

export const CreateSiteKeySchema = z
  .object({
    /** Who it is for, in words ("Campus B"). */
    site: z.string().trim().min(1).max(200),
    /** One version only; none: every version of the image. */
    version: z.number().int().positive().optional(),
    /** How long it is valid (default a year). */
    days: z.number().int().positive().max(3650).default(365),
  })
  .strict();

export const SiteKeySchema = z.object({
  id: z.number().int(),
  image: z.string(),
  version: z.number().int().nullable(),
  site: z.string(),
  createdBy: z.string(),
  createdAt: z.string(),
  expiresAt: z.string(),
  revokedAt: z.string().nullable(),
});
export type SiteKey = z.infer<typeof SiteKeySchema>;
export const SiteKeyListSchema = z.object({ keys: z.array(SiteKeySchema) });
/** The one answer that shows the key, with the seeder URLs the other site may pull from. */
export const NewSiteKeySchema = SiteKeySchema.extend({ key: z.string(), sources: z.array(z.string()) });

/** A source seeder's answer to GET /k/KEY/images/NAME: the versions that key opens. */
export const SourceVersionsSchema = z.object({
  versions: z.array(z.object({ version: z.number().int().positive(), infoHash: z.string().regex(/^[0-9a-f]{40}$/) })),
});
