/**
 * Hosts in and out as CSV: the export, and the import that spares typing 200 MACs.
 *
 * The import reads three kinds of file, told apart by their first line:
 * - Shoal's own: a header line naming its columns (mac required; name, disk, group, image);
 * - FOG's host export (Host Management → Export): no header line, one host a line, its columns in
 *   FOG's order (FOGPage::export in FOG 1.x): MACs (the primary first, others after `|`), name,
 *   description, IP, image ID, building, then Active Directory, product key and kernel settings.
 *   Taken here: the first MAC and the name. The other MACs are left out (a Shoal host has one);
 *   so are the description (a Shoal host has none), the IP (Shoal learns it from the PC when it
 *   boots) and the image ID (FOG's database number, which names no Shoal image). The hosts go
 *   into the group the admin picks for the import, if any;
 * - either of those separated by semicolons, as a spreadsheet in a comma-decimal locale saves it.
 *
 * All or nothing: a file with one bad line changes nothing, and the error names the line. Groups
 * the file names that do not exist yet are reported by a dry run (which writes nothing) and are
 * created only when the admin says so (`createGroups`).
 */
import { parse as parseCsv } from 'csv-parse/sync';
import { stringify as toCsv } from 'csv-stringify/sync';
import { z } from 'zod';
import { API, MacSchema } from '../../shared/http/api.js';
import { HttpError } from '../../shared/http/errors.js';
import type { ApiRouter } from '../http/api-router.js';
import { HostImportSchema, type HostImport } from '../../shared/http/portal-contract.js';
import { audit } from '../db/audit.js';
import type { Db } from '../db/open.js';
import type { HostDeps } from './host-deps.js';
import { findGroup, findHost, hostsByMac, insertGroup, insertHost, updateHost } from './host-store.js';
import { checkRefs, hostColumns, NewHost, normalMac } from './host-rules.js';
import { groupName } from './group-routes.js';

const CSV_COLUMNS = ['mac', 'name', 'disk', 'group', 'image'] as const;
const MAX_IMPORT_ROWS = 5000;
/** FOG's export has 16 columns (more with plugins' hooks); a line far longer is not one of its hosts. */
const FOG_MAX_COLUMNS = 64;

const flag = z.enum(['true', 'false']).default('false');
const ImportQuery = z.object({
  /** Check the file and count what it would do; write nothing. */
  dryRun: flag,
  /** Create the groups the file names that do not exist yet, in the same transaction. */
  createGroups: flag,
  /** The group of every host the file gives none (FOG's export names no group). */
  group: groupName.optional(),
});

type Format = NonNullable<HostImport['format']>;
interface Row {
  line: number;
  mac: string;
  host: z.infer<typeof NewHost>;
}

/** Semicolons when the first line has more of them than commas (outside quotes), else commas. */
export function delimiterOf(text: string): ',' | ';' {
  const first = text.split(/\r?\n/).find((l) => l.trim() !== '') ?? '';
  const bare = first.replace(/"[^"]*"/g, '');
  return (bare.match(/;/g)?.length ?? 0) > (bare.match(/,/g)?.length ?? 0) ? ';' : ',';
}

/** A cell of MACs as FOG writes them ("aa:bb:…|cc:dd:…"). */
const isMacList = (cell: string | undefined): boolean => !!cell && cell.split('|').every((m) => MacSchema.safeParse(m.trim()).success);

const lineError = (line: number, err: unknown): HttpError =>
  new HttpError((err as HttpError).status ?? 400, `CSV line ${line}: ${(err as Error).message}`, (err as HttpError).field);

/** The file's hosts, checked line by line (not yet against the database). */
export function readHostCsv(body: string, group: string | undefined): { format: Format; delimiter: ',' | ';'; rows: Row[] } {
  const delimiter = delimiterOf(body);
  let records: Array<{ record: string[]; line: number }>;
  try {
    // With `info` and `raw`, each record comes as { record, info, raw } (csv-parse's types do not say so).
    const parsed = parseCsv(body, {
      delimiter,
      skip_empty_lines: true,
      trim: true,
      bom: true,
      relax_column_count: true,
      info: true,
      raw: true,
    }) as unknown as Array<{ record: string[]; info: { lines: number }; raw: string }>;
    // info.lines is the line a record ends on; a quoted value can hold newlines, and the error names the line it starts on.
    records = parsed.map(({ record, info, raw }) => ({
      record,
      line:
        info.lines -
        (raw
          .replace(/^[\r\n]+/, '')
          .replace(/\r?\n$/, '')
          .match(/\n/g)?.length ?? 0),
    }));
  } catch (err) {
    throw new HttpError(400, `CSV: ${(err as Error).message}`);
  }
  if (!records.length) throw new HttpError(400, 'CSV: no hosts (a header line, then one host per line; or FOG’s host export)');
  const format: Format = isMacList(records[0]!.record[0]) ? 'fog' : 'header';
  let entries: Array<{ line: number; fields: Record<string, string> }>;
  if (format === 'fog') {
    entries = records.map(({ record, line }) => {
      if (!isMacList(record[0])) throw new HttpError(400, `CSV line ${line}: the first column is not a MAC address (FOG’s export starts each line with it)`);
      if (record.length > FOG_MAX_COLUMNS) throw new HttpError(400, `CSV line ${line}: ${record.length} columns, more than FOG’s host export has`);
      return { line, fields: { mac: record[0]!.split('|')[0]!.trim(), name: record[1] ?? '' } };
    });
  } else {
    const [head, ...rest] = records;
    const columns = head!.record.map((c) => c.toLowerCase());
    const unknown = columns.filter((c) => !(CSV_COLUMNS as readonly string[]).includes(c));
    if (unknown.length)
      throw new HttpError(400, `CSV: unknown column${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known: ${CSV_COLUMNS.join(', ')})`);
    if (!columns.includes('mac')) throw new HttpError(400, 'CSV: the header has no mac column');
    entries = rest.map(({ record, line }) => {
      if (record.length > columns.length) throw new HttpError(400, `CSV line ${line}: ${record.length} values, the header names ${columns.length} columns`);
      return { line, fields: Object.fromEntries(columns.map((c, i) => [c, record[i] ?? ''])) };
    });
  }
  if (!entries.length) throw new HttpError(400, 'CSV: no hosts (a header line, then one host per line)');
  if (entries.length > MAX_IMPORT_ROWS) throw new HttpError(413, `CSV: ${entries.length} hosts, at most ${MAX_IMPORT_ROWS} in one import`);
  const macs = new Map<string, number>();
  const names = new Map<string, number>();
  const rows = entries.map(({ line, fields }) => {
    const given = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== ''));
    const parsed = NewHost.safeParse({ ...(group && { group }), ...given });
    if (!parsed.success) throw new HttpError(400, `CSV line ${line}: ${parsed.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
    const mac = normalMac(parsed.data.mac);
    const badGroup = parsed.data.group === undefined ? undefined : groupName.safeParse(parsed.data.group).error;
    if (badGroup) throw new HttpError(400, `CSV line ${line}: group: ${badGroup.issues[0]?.message}`);
    if (macs.has(mac)) throw new HttpError(400, `CSV line ${line}: ${mac} is also on line ${macs.get(mac)}`);
    macs.set(mac, line);
    const name = parsed.data.name?.toLowerCase();
    if (name && names.has(name)) throw new HttpError(400, `CSV line ${line}: the name ${parsed.data.name} is also on line ${names.get(name)}`);
    if (name) names.set(name, line);
    return { line, mac, host: parsed.data };
  });
  return { format, delimiter, rows };
}

/** Thrown to roll a dry run's transaction back, carrying what it found. */
class DryRun extends Error {
  constructor(readonly result: HostImport) {
    super('dry run');
  }
}

export function hostCsvRoutes(api: ApiRouter, deps: HostDeps): void {
  const { db } = deps;
  api.add(
    {
      method: 'get',
      path: `${API}/hosts.csv`,
      summary: 'Every host as CSV (mac,name,disk,group,image)',
      tag: 'hosts',
      access: 'read',
      responseType: 'text/csv',
      response: 'raw',
    },
    async (ctx) => {
      const rows = await hostsByMac(db);
      ctx.type = 'text/csv';
      ctx.attachment('shoal-hosts.csv');
      ctx.body = toCsv(
        rows.map((h) => [h.mac, h.name ?? '', h.disk ?? '', h.group_name ?? '', h.image_name ?? '']),
        { header: true, columns: [...CSV_COLUMNS] },
      );
    },
  );

  api.add(
    {
      method: 'post',
      path: `${API}/hosts/import`,
      summary:
        "Add or update hosts from CSV: with a header line (mac required; name, disk, group, image optional), or FOG's host export (no header; the first MAC and the name are taken); commas or semicolons. All or nothing; dryRun=true writes nothing and reports the groups that do not exist; createGroups=true creates them.",
      tag: 'hosts',
      access: 'admin',
      body: z.string(),
      bodyType: 'text/csv',
      query: ImportQuery,
      response: HostImportSchema,
    },
    async (_ctx, { body, query, caller }) => {
      const { format, delimiter, rows } = readHostCsv(body, query.group);
      const named = [...new Set(rows.map((r) => r.host.group).filter((g): g is string => !!g))];
      const unknownGroups: string[] = [];
      for (const g of named) if (!(await findGroup(db, g))) unknownGroups.push(g);
      const dryRun = query.dryRun === 'true';
      const createGroups = dryRun || query.createGroups === 'true';
      try {
        return await db.transaction(async (tx) => {
          // A dry run creates the unknown groups too, so that every other line is checked as the
          // real import would check it, then rolls everything back.
          const created = createGroups ? await addGroups(tx, caller.name, unknownGroups) : [];
          const counts = await importRows(tx, rows);
          if (dryRun) throw new DryRun({ ...counts, dryRun: true, unknownGroups, format, delimiter });
          await audit(tx, caller.name, 'host.import', null, { ...counts, ...(created.length && { groupsCreated: created }), format });
          return { ...counts, ...(created.length && { groupsCreated: created }) };
        });
      } catch (err) {
        if (err instanceof DryRun) return err.result;
        throw err;
      }
    },
  );
}

async function addGroups(tx: Db, actor: string, names: string[]): Promise<string[]> {
  for (const name of names) {
    await insertGroup(tx, { name, description: null, created_ms: Date.now() });
    await audit(tx, actor, 'group.create', name, { by: 'host import' });
  }
  return names;
}

async function importRows(tx: Db, rows: Row[]): Promise<{ created: number; updated: number }> {
  let created = 0;
  let updated = 0;
  for (const { line, mac, host } of rows) {
    try {
      await checkRefs(tx, host, mac);
    } catch (err) {
      throw lineError(line, err);
    }
    if (await findHost(tx, mac)) {
      await updateHost(tx, mac, hostColumns(host));
      updated++;
    } else {
      await insertHost(tx, { mac, ...hostColumns(host), created_ms: Date.now() });
      created++;
    }
  }
  return { created, updated };
}
