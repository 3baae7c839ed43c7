#!/bin/sh
# The network of the floating-IP walk-through (run as root):
#   netns.sh up     makes a LAN namespace with a bridge, and the namespaces
#                   fip-node1, fip-node2, fip-node3 and fip-client, each with
#                   eth0 on the LAN at 10.213.0.1 to .4
#   netns.sh down   deletes them (their interfaces go with them)
# Nothing is created in the machine's own namespace. FIP_PREFIX changes the
# names' prefix (default fip), so two copies can run side by side.
set -eu
p=${FIP_PREFIX:-fip}
case "${1:-}" in
up)
	ip netns add "$p-lan"
	ip -n "$p-lan" link add br0 type bridge
	ip -n "$p-lan" link set br0 up
	i=1
	for host in node1 node2 node3 client; do
		ip netns add "$p-$host"
		ip -n "$p-lan" link add "$host" type veth peer name eth0 netns "$p-$host"
		ip -n "$p-lan" link set "$host" master br0 up
		ip -n "$p-$host" link set lo up
		ip -n "$p-$host" addr add "10.213.0.$i/24" dev eth0
		ip -n "$p-$host" link set eth0 up
		i=$((i + 1))
	done
	;;
down)
	for host in client node3 node2 node1 lan; do
		ip netns del "$p-$host" 2>/dev/null || true
	done
	;;
*)
	echo "usage: $0 up|down" >&2
	exit 2
	;;
esac
