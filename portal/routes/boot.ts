/**
 * iPXE asks `/boot/ipxe?mac=${net0/mac}` as a PC network-boots. A host with a task waiting gets a
 * script that boots Shoal's client with the portal's URL and the host's key on the kernel command
 * line, and is marked booting; any other PC boots from its local disk, as FOG's default does.
 * (The client kernel and initramfs come with the boot-image issue; they are served from
 * /boot/shoal/ on the same portal.)
 */
import { z } from 'zod';
import { MacSchema } from '../../shared/api.js';
import type { ApiRouter } from '../api-router.js';
import type { PortalDeps } from '../deps.js';
import { activateDueTasks, FINAL, markBooting } from './tasks.js';
import { normalMac } from './hosts.js';

const BootQuery = z.object({ mac: MacSchema });

/** BIOS iPXE boots the first hard disk with sanboot; UEFI returns to the firmware's next entry. */
export const LOCAL_BOOT = `#!ipxe
echo Shoal: nothing to do for this PC, booting from its disk
iseq \${platform} efi && exit 0 ||
sanboot --no-describe --drive 0x80 || exit 0
`;

export function bootScript(portalUrl: string, mac: string, key: string, taskId: number): string {
  // iPXE expands ${...}; nothing here comes from the PC but its MAC, checked above.
  return `#!ipxe
echo Shoal: task ${taskId} for ${mac}, starting the client
kernel ${portalUrl}/boot/shoal/vmlinuz initrd=initrd.img shoal.portal=${portalUrl} shoal.mac=${mac} shoal.key=${key} shoal.task=${taskId} quiet
initrd ${portalUrl}/boot/shoal/initrd.img
boot || goto failed
:failed
echo Shoal: the client did not boot; booting from the disk in 10 s
sleep 10
${LOCAL_BOOT.split('\n').slice(2).join('\n')}`;
}

export function bootRoutes(api: ApiRouter, deps: PortalDeps): void {
  api.add({ method: 'get', path: '/boot/ipxe', summary: 'The iPXE script for a PC: the Shoal client when a task waits for it, its local disk otherwise', tag: 'clients', access: 'public', query: BootQuery, responseType: 'text/plain' }, async (ctx, { query }) => {
    const mac = normalMac(query.mac);
    await activateDueTasks(deps);
    const row = await deps.db('task_hosts').join('tasks', 'tasks.id', 'task_hosts.task_id')
      .where({ 'task_hosts.mac': mac, 'tasks.state': 'active' }).whereNotIn('task_hosts.state', FINAL).select('task_hosts.task_id', 'task_hosts.key', 'task_hosts.state').first();
    await deps.db('hosts').where({ mac }).update({ ip: ctx.ip, last_seen_ms: Date.now() });
    ctx.type = 'text/plain';
    if (!row) {
      ctx.body = LOCAL_BOOT;
      return;
    }
    await markBooting(deps, row.task_id, mac, 'network boot (iPXE)');
    ctx.body = bootScript(deps.config.publicUrl ?? `${ctx.protocol}://${ctx.host}`, mac, row.key, row.task_id);
  });
}
