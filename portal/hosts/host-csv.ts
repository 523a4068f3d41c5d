/**
 * Hosts in and out as CSV: the export, and the import that spares typing 200 MACs.
 */
import { parse as parseCsv } from 'csv-parse/sync';
import { stringify as toCsv } from 'csv-stringify/sync';
import { z } from 'zod';
import { API } from '../../shared/http/api.js';
import { HttpError } from '../../shared/http/errors.js';
import type { ApiRouter } from '../http/api-router.js';
import { HostImportSchema } from '../../shared/http/portal-contract.js';
import { audit } from '../db/audit.js';
import type { HostDeps } from './host-deps.js';
import { findHost, hostsByMac, insertHost, updateHost } from './host-store.js';
import { checkRefs, hostColumns, NewHost, normalMac } from './host-rules.js';

const CSV_COLUMNS = ['mac', 'name', 'disk', 'group', 'image'] as const;
const MAX_IMPORT_ROWS = 5000;

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
      summary: 'Add or update hosts from CSV with a header line (mac required; name, disk, group, image optional). All or nothing.',
      tag: 'hosts',
      access: 'admin',
      body: z.string(),
      bodyType: 'text/csv',
      response: HostImportSchema,
    },
    async (_ctx, { body, caller }) => {
      let records: Array<Record<string, string>>;
      try {
        records = parseCsv(body, { columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()), skip_empty_lines: true, trim: true, bom: true });
      } catch (err) {
        throw new HttpError(400, `CSV: ${(err as Error).message}`);
      }
      if (!records.length) throw new HttpError(400, 'CSV: no hosts (a header line, then one host per line)');
      if (records.length > MAX_IMPORT_ROWS) throw new HttpError(413, `CSV: ${records.length} hosts, at most ${MAX_IMPORT_ROWS} in one import`);
      const unknown = Object.keys(records[0]!).filter((c) => !(CSV_COLUMNS as readonly string[]).includes(c));
      if (unknown.length)
        throw new HttpError(400, `CSV: unknown column${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known: ${CSV_COLUMNS.join(', ')})`);
      if (!('mac' in records[0]!)) throw new HttpError(400, 'CSV: the header has no mac column');
      const seen = new Map<string, number>();
      const rows = records.map((r, i) => {
        const line = i + 2;
        const parsed = NewHost.safeParse(Object.fromEntries(Object.entries(r).filter(([, v]) => v !== '')));
        if (!parsed.success) throw new HttpError(400, `CSV line ${line}: ${parsed.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
        const mac = normalMac(parsed.data.mac);
        if (seen.has(mac)) throw new HttpError(400, `CSV line ${line}: ${mac} is also on line ${seen.get(mac)}`);
        seen.set(mac, line);
        return { line, mac, host: parsed.data };
      });
      return db.transaction(async (tx) => {
        let created = 0;
        let updated = 0;
        for (const { line, mac, host } of rows) {
          try {
            await checkRefs(tx, host, mac);
          } catch (err) {
            throw new HttpError((err as HttpError).status ?? 400, `CSV line ${line}: ${(err as Error).message}`);
          }
          if (await findHost(tx, mac)) {
            await updateHost(tx, mac, hostColumns(host));
            updated++;
          } else {
            await insertHost(tx, { mac, ...hostColumns(host), created_ms: Date.now() });
            created++;
          }
        }
        await audit(tx, caller.name, 'host.import', null, { created, updated });
        return { created, updated };
      });
    },
  );
}
