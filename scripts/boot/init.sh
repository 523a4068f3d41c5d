#!/bin/sh
# Shoal's PC init (PID 1 of the boot image). The kernel command line carries, from the portal's
# boot script: shoal.portal=URL shoal.mac=MAC shoal.key=KEY [shoal.disk=/dev/X] [shoal.after=reboot|poweroff]
# It brings the network up by DHCP, runs `shoal join` on the disk, then reboots or powers off.
# Whatever happens, it ends in `after`: a PC must never hang in the boot image with the lab waiting.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
echo 0 > /proc/sys/kernel/printk 2>/dev/null

# The screen is /dev/console; a serial console named on the command line gets the same lines.
SERIAL=/dev/null
grep -q 'console=ttyS0' /proc/cmdline && [ -c /dev/ttyS0 ] && SERIAL=/dev/ttyS0
log() { echo "shoal-init: $*" | tee -a "$SERIAL" > /dev/console; }

arg() { # the value of shoal.$1= on the kernel command line
  for w in $(cat /proc/cmdline); do
    case "$w" in "shoal.$1="*) echo "${w#shoal.$1=}"; return;; esac
  done
}
PORTAL=$(arg portal); MAC=$(arg mac); KEY=$(arg key); DISK=$(arg disk); AFTER=$(arg after)
[ -n "$AFTER" ] || AFTER=reboot

finish() {
  sync
  if [ "$AFTER" = shell ]; then log "dropping to a shell"; exec sh; fi
  log "$AFTER in 5 s"; sleep 5
  if [ "$AFTER" = poweroff ]; then poweroff -f; else reboot -f; fi
}

# Say how the PC booted: a lab admin checking Secure Boot sees it on the screen.
if [ -d /sys/firmware/efi ]; then
  modprobe -q efivarfs 2>/dev/null
  mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
  # The variable's 4 attribute bytes, then 1 when Secure Boot is on; the kernel says so too.
  SB=$(od -An -t u1 -j4 -N1 /sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c 2>/dev/null | tr -d ' ')
  if [ "$SB" = 1 ] || dmesg | grep -q 'Secure boot enabled'; then log "firmware: UEFI, Secure Boot on"; else log "firmware: UEFI, Secure Boot off"; fi
else
  log "firmware: BIOS"
fi

# Drivers: the usual suspects first, then whatever the buses name (each device's modalias).
for m in $(cat /etc/shoal-modules); do modprobe -q "$m" 2>/dev/null; done
for a in $(cat /sys/bus/*/devices/*/modalias 2>/dev/null | sort -u); do modprobe -q "$a" 2>/dev/null; done

# The NIC with the MAC the portal booted, else the first one that is not loopback; DHCP on it.
IFACE=
i=0
while [ -z "$IFACE" ] && [ $i -lt 20 ]; do
  for n in /sys/class/net/*; do
    name=${n##*/}
    [ "$name" = lo ] && continue
    if [ -z "$MAC" ] || [ "$(cat $n/address)" = "$MAC" ]; then IFACE=$name; break; fi
  done
  [ -n "$IFACE" ] || { sleep 1; i=$((i + 1)); }
done
[ -n "$IFACE" ] || { log "no network interface${MAC:+ with MAC $MAC}"; finish; }
ip link set lo up
ip link set "$IFACE" up
log "DHCP on $IFACE"
udhcpc -i "$IFACE" -s /etc/udhcpc.sh -t 10 -T 3 -n -q || { log "no DHCP answer on $IFACE"; finish; }

# The disk: the portal's choice, else the first fixed disk of the usual kinds.
if [ -z "$DISK" ]; then
  i=0
  while [ -z "$DISK" ] && [ $i -lt 10 ]; do
    for b in /sys/block/nvme*n* /sys/block/sd* /sys/block/vd* /sys/block/hd*; do
      [ -e "$b" ] || continue
      [ "$(cat $b/removable 2>/dev/null)" = 1 ] && continue
      DISK=/dev/${b##*/}; break
    done
    [ -n "$DISK" ] || { sleep 1; i=$((i + 1)); }
  done
fi
[ -n "$DISK" ] || { log "no disk found"; finish; }
[ -n "$PORTAL" ] || { log "no shoal.portal= on the kernel command line"; finish; }

log "running the Shoal client: portal $PORTAL, disk $DISK"
# malloc on transparent huge pages: far fewer page faults for a client that moves every piece
# through fresh buffers (scripts/huge-page-malloc.ts says why and what it measured). Node's flags:
# scripts/pc-node-flags.ts says why.
export GLIBC_TUNABLES=glibc.malloc.hugetlb=1
set -o pipefail
node --initial-old-space-size=128 --no-memory-reducer /opt/shoal/cli.js join --portal "$PORTAL" --disk "$DISK" ${MAC:+--mac "$MAC"} ${KEY:+--key "$KEY"} < /dev/null 2>&1 | tee -a "$SERIAL" > /dev/console
log "the client exited with status $?"
finish
