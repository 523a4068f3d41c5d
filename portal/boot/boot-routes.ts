/**
 * What a PC sees as it network-boots. iPXE asks `/boot/ipxe?mac=${net0/mac}`:
 *   - a host with a task waiting gets a script that boots Shoal's client with the portal's URL and
 *     only the host's key on the kernel command line, and is marked booting;
 *   - a known host with nothing to do boots its local disk at once (FOG's default), logged;
 *   - a MAC the portal does not know gets the registration menu: quick (MAC only), full (name,
 *     group, image typed at iPXE's prompt), or the local disk, which it takes after 30 s.
 * The client's kernel and initramfs are served from the boot directory under /boot/shoal/.
 */
import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from 'koa';
import { z } from 'zod';
import { isDiskPath, MacSchema, RegisterHostSchema } from '../../shared/http/api.js';
import { HttpError } from '../../shared/http/errors.js';
import { logger } from '../../shared/log.js';
import type { ApiRouter } from '../http/api-router.js';
import type { TaskDeps } from '../tasks/task-deps.js';
import { BOOT_FILES, bootFilesOf, grubHostConfig, tftpRootOf, writePcBootDirs } from './pxe.js';
import { isBootUrl } from '../config.js';
import { claimTaskKey, markBooting } from '../tasks/pc-routes.js';
import { activateDueTasks } from '../tasks/task-start.js';
import { activeBoots } from '../tasks/task-store.js';
import { normalMac } from '../hosts/host-rules.js';
import { registerHost } from '../hosts/host-register.js';
import { findHost, hostSeen } from '../hosts/host-store.js';

const log = logger('boot');
const BootQuery = z.object({ mac: MacSchema.optional() });
/** Empty answers at iPXE's prompts arrive as empty strings: they mean "none". */
const typed = z
  .string()
  .max(64)
  .transform((s) => s.trim() || undefined)
  .optional();
const RegisterQuery = z.object({ mac: MacSchema, name: typed, group: typed, image: typed });
const MENU_TIMEOUT_MS = 30_000;

/**
 * BIOS iPXE boots the first hard disk with sanboot; UEFI returns to the firmware's next entry. With
 * an error: a boot option that returns success makes UEFI firmware stop and show its boot menu
 * (the UEFI specification's rule, OVMF's behaviour) instead of trying the next entry.
 */
const LOCAL_BOOT_LINES = `iseq \${platform} efi && exit 1 ||
sanboot --no-describe --drive 0x80 || exit 0
`;
export const LOCAL_BOOT = `#!ipxe
echo Shoal: nothing to do for this PC, booting from its disk
${LOCAL_BOOT_LINES}`;

export interface ClientBoot {
  portalUrl: string;
  mac: string;
  key: string;
  taskId: number;
  finish: string;
  disk?: string | null;
}

/**
 * The client's kernel command line. The key is the only secret on it, and it opens nothing but
 * this MAC's task while the task runs (portal/access/host-keys.ts checkBootKey). Both consoles: the
 * serial port for a lab's console server (and the tests), the screen last so /dev/console is it.
 */
export function clientCmdline(b: ClientBoot): string {
  // The schemas hold these already; checked again here, where a stray space or newline would
  // become a kernel argument or an iPXE command (a row written before the rules, a new path in).
  const bad = (
    [
      ['portal URL', b.portalUrl, isBootUrl(b.portalUrl)],
      ['MAC', b.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(b.mac)],
      ['key', b.key, /^[A-Za-z0-9_.-]{1,200}$/.test(b.key)],
      ['task', String(b.taskId), Number.isSafeInteger(b.taskId) && b.taskId > 0],
      ['finish', b.finish, /^(reboot|poweroff)$/.test(b.finish)],
      ['disk', b.disk ?? '', !b.disk || isDiskPath(b.disk)],
    ] as const
  ).find(([, , ok]) => !ok);
  if (bad) throw new HttpError(500, `host ${b.mac}: its ${bad[0]} ${JSON.stringify(bad[1])} cannot go on a kernel command line: not booting it`);
  return [
    `shoal.portal=${b.portalUrl}`,
    `shoal.mac=${b.mac}`,
    `shoal.key=${b.key}`,
    `shoal.task=${b.taskId}`,
    `shoal.after=${b.finish}`,
    ...(b.disk ? [`shoal.disk=${b.disk}`] : []),
    'console=ttyS0,115200',
    'console=tty0',
    'quiet',
  ].join(' ');
}

export function bootScript(b: ClientBoot): string {
  // iPXE expands ${...}; nothing here comes from the PC but its MAC, checked above.
  return `#!ipxe
echo Shoal: task ${b.taskId} for ${b.mac}, starting the client
kernel ${b.portalUrl}/boot/shoal/vmlinuz initrd=initrd.img ${clientCmdline(b)}
initrd ${b.portalUrl}/boot/shoal/initrd.img
boot || goto failed
:failed
echo Shoal: the client did not boot; booting from the disk in 10 s
sleep 10
${LOCAL_BOOT_LINES}`;
}

export function registrationMenu(portalUrl: string, mac: string): string {
  const register = `${portalUrl}/boot/ipxe/register?mac=\${net0/mac}`;
  return `#!ipxe
menu Shoal: this PC (${mac}) is not registered
item quick  Quick registration (MAC only)
item full   Full registration (name, group, image)
item local  Boot from the local disk
choose --default local --timeout ${MENU_TIMEOUT_MS} choice || goto local
goto \${choice}
:quick
chain ${register} || goto local
:full
echo -n Host name: && read shoal_name
echo -n Group (empty: none): && read shoal_group
echo -n Image (empty: none): && read shoal_image
chain ${register}&name=\${shoal_name:uristring}&group=\${shoal_group:uristring}&image=\${shoal_image:uristring} || goto local
:local
${LOCAL_BOOT_LINES}`;
}

/** iPXE would expand `${…}` and run what follows `||` or `&&`: what is echoed keeps only plain characters. */
const say = (lines: string[], then: string) => `#!ipxe\n${lines.map((l) => `echo ${l.replace(/[^\w .,:()'/@-]/g, '?')}`).join('\n')}\n${then}`;

export function bootRoutes(api: ApiRouter, deps: TaskDeps): void {
  // Without --public-url the script names the portal as the PC asked for it (its Host header).
  const urlOf = (ctx: Context): string => {
    const url = deps.config.publicUrl ?? `${ctx.protocol}://${ctx.host}`;
    if (!isBootUrl(url)) throw new HttpError(400, `the Host header ${JSON.stringify(ctx.host)} is not a host name or address: no boot script names it`);
    return url;
  };

  api.add(
    {
      method: 'get',
      path: '/boot/ipxe',
      summary: 'The iPXE script for a PC: the client when a task waits for it, the registration menu for an unknown MAC, its local disk otherwise',
      tag: 'clients',
      access: 'public',
      query: BootQuery,
      responseType: 'text/plain',
      response: 'raw',
    },
    async (ctx, { query }) => {
      ctx.type = 'text/plain';
      if (!query.mac) {
        // dnsmasq hands iPXE this URL without the MAC, which only iPXE itself can fill in.
        ctx.body = `#!ipxe\nchain ${urlOf(ctx)}/boot/ipxe?mac=\${net0/mac}\n`;
        return;
      }
      const mac = normalMac(query.mac);
      await activateDueTasks(deps);
      const host = await findHost(deps.db, mac);
      if (!host) {
        log.info({ mac, ip: ctx.ip }, 'boot request from an unknown PC: registration menu');
        ctx.body = registrationMenu(urlOf(ctx), mac);
        return;
      }
      await hostSeen(deps.db, mac, ctx.ip);
      if (host.pending) {
        log.info({ mac, ip: ctx.ip }, 'boot request from a PC waiting for approval: local disk');
        ctx.body = say(
          [`Shoal: this PC (${mac}) is registered and waits for an admin's approval`, 'booting from the disk in 10 s'],
          `sleep 10\n${LOCAL_BOOT_LINES}`,
        );
        return;
      }
      const [row] = await activeBoots(deps.db, mac);
      if (!row) {
        log.info({ mac, name: host.name, ip: ctx.ip }, 'boot request: nothing pending, local disk');
        ctx.body = LOCAL_BOOT;
        return;
      }
      try {
        await claimTaskKey(deps, row.task_id, mac, ctx.ip);
      } catch (err) {
        if ((err as HttpError).status !== 409) throw err;
        ctx.body = say([`Shoal: ${(err as Error).message}`, 'booting from the disk in 10 s'], `sleep 10\n${LOCAL_BOOT_LINES}`);
        return;
      }
      log.info({ mac, name: host.name, ip: ctx.ip, task: row.task_id }, 'boot request: starting the client');
      await markBooting(deps, row.task_id, mac, 'network boot (iPXE)');
      ctx.body = bootScript({ portalUrl: urlOf(ctx), mac, key: row.key, taskId: row.task_id, finish: row.finish, disk: host.disk });
    },
  );

  api.add(
    {
      method: 'get',
      path: '/boot/ipxe/register',
      summary: "iPXE's registration menu registers a PC (quick: MAC only; full: name, group, image)",
      tag: 'clients',
      access: 'public',
      query: RegisterQuery,
      responseType: 'text/plain',
      response: 'raw',
    },
    async (ctx, { query }) => {
      ctx.type = 'text/plain';
      const back = `chain ${urlOf(ctx)}/boot/ipxe?mac=\${net0/mac}`;
      try {
        // What was typed at the prompt gets the API's own checks (names, MAC) before anything is written.
        const body = RegisterHostSchema.parse({
          mac: query.mac,
          ...(query.name && { name: query.name }),
          ...(query.group && { group: query.group }),
          ...(query.image && { image: query.image }),
        });
        const mac = await registerHost(deps, ctx, body);
        log.info({ mac, name: query.name, group: query.group, image: query.image }, 'registered at the boot menu');
        const waits = (await findHost(deps.db, mac))?.pending;
        ctx.body = say([`Shoal: registered ${query.name ?? mac}${waits ? ": it waits for an admin's approval" : ''}`], back);
      } catch (err) {
        // The PC is at a prompt: say why and go back to the menu rather than answer with an HTTP error.
        const why = err instanceof z.ZodError ? err.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') : (err as Error).message;
        ctx.body = say([`Shoal: not registered: ${why}`], `sleep 5\n${back}`);
      }
    },
  );

  api.add(
    {
      method: 'get',
      path: '/boot/shoal/:file',
      summary: "The client's kernel and initramfs, and the first-stage boot files (from npm run build:boot)",
      tag: 'clients',
      access: 'public',
      responseType: 'application/octet-stream',
      response: 'raw',
    },
    async (ctx, { params }) => {
      const file = params.file!;
      if (!(BOOT_FILES as readonly string[]).includes(file)) throw new HttpError(404, `no boot file ${file} (there are ${BOOT_FILES.join(', ')})`);
      const path = join(deps.config.bootDir, file);
      let size: number;
      try {
        size = statSync(path).size;
      } catch {
        ctx.status = 404;
        ctx.type = 'text/plain';
        ctx.body = `${file} is not built: run npm run build:boot on the server\n`;
        return;
      }
      ctx.type = 'application/octet-stream';
      ctx.length = size;
      ctx.body = createReadStream(path);
    },
  );
}

/**
 * GRUB (the UEFI path) cannot ask the portal anything, and a UEFI PC must not get shim at all when
 * nothing waits for it (pxe.ts says why): each PC with a task waiting gets its own TFTP directory
 * (shim, GRUB, kernel, initramfs and its grub.cfg with its key); the others lose theirs.
 */
export async function syncBootHosts(deps: TaskDeps, portalUrl: string): Promise<void> {
  const want = new Map<string, string>();
  for (const r of await activeBoots(deps.db)) {
    try {
      want.set(r.mac, grubHostConfig(clientCmdline({ portalUrl, mac: r.mac, key: r.key, taskId: r.task_id, finish: r.finish, disk: r.disk })));
    } catch (err) {
      // One host's bad row keeps that PC on its disk, not every other PC too.
      log.error({ mac: r.mac, err: (err as Error).message }, 'no network boot for this PC');
    }
  }
  writePcBootDirs(tftpRootOf(deps.config.dataDir), bootFilesOf(deps.config.dataDir), want);
}
