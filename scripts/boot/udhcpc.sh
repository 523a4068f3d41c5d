#!/bin/sh
# busybox udhcpc's hook: configure the lease on the interface (address, router, DNS).
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" ${broadcast:+brd "$broadcast"} dev "$interface"
    for r in $router; do ip route add default via "$r" dev "$interface"; break; done
    : > /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    echo "shoal-init: $interface has $ip" | tee -a /dev/ttyS0 > /dev/console 2>/dev/null
    ;;
  deconfig)
    ip addr flush dev "$interface"
    ;;
esac
exit 0
