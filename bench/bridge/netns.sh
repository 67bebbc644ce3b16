# SPDX-License-Identifier: MIT
# Sourced by bench.sh and threads.sh: the two network namespaces $NA and $NB
# (named by the caller, so its cleanup can name them before they exist).

# netns_up VA VB SUBNET: $NA and $NB joined by a veth pair, VA in $NA at
# 10.SUBNET.0.1, VB in $NB at 10.SUBNET.0.2, both up.
netns_up() {
	ip netns add "$NA" && ip netns add "$NB" &&
		ip link add "$1" netns "$NA" type veth peer name "$2" netns "$NB" &&
		ip -n "$NA" addr add "10.$3.0.1/24" dev "$1" &&
		ip -n "$NB" addr add "10.$3.0.2/24" dev "$2" &&
		ip -n "$NA" link set "$1" up && ip -n "$NB" link set "$2" up
}

# Removes both (and the veth pair with them); quiet if they are not there.
netns_down() {
	ip netns del "$NA" 2>/dev/null
	ip netns del "$NB" 2>/dev/null
}
