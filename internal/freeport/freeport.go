// Package freeport picks TCP ports for servers that a test or the embedded Temporal server starts, outside the
// kernel's ephemeral range.
//
// A port that `net.Listen(":0")` returned and then released lies in the ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range, 32768–60999 by default on Linux). Every outgoing connection on the
// machine takes its local port from that same range, so between the release and the server's own bind, any client
// (a parallel test's HTTP request, a gRPC dial) can take it: the embedded Temporal server's history service then
// fails to bind and panics. Ports below the ephemeral range are only ever taken by a listener that asks for them.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// rangeFile holds the kernel's ephemeral port range, "LOW\tHIGH".
const rangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// lowest is the first port Pick considers: above the registered ports most services use.
const lowest = 10000

// Pick returns n distinct ports, free on host at the time of the call and not in exclude. It prefers ports in
// [10000, start of the ephemeral range); where that range cannot be read or is too small it falls back to ports
// the kernel hands out. Every chosen port is held open until all n are chosen. Errors: a host that cannot be
// listened on, or no n free ports after 100·n attempts.
func Pick(host string, n int, exclude map[int]bool) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	low, high := below()
	ports := make([]int, 0, n)
	taken := map[int]bool{}
	for attempts := 0; len(ports) < n; attempts++ {
		if attempts > 100*n {
			return nil, fmt.Errorf("freeport: could not find %d free ports on %s", n, host)
		}
		want := 0
		if high > low {
			want = low + rand.IntN(high-low)
			if exclude[want] || taken[want] {
				continue
			}
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(want)))
		if err != nil {
			if want != 0 {
				continue // in use: try another
			}
			return nil, fmt.Errorf("freeport: finding a free port on %s: %w", host, err)
		}
		listeners = append(listeners, l)
		p := l.Addr().(*net.TCPAddr).Port
		if exclude[p] || taken[p] {
			continue
		}
		taken[p] = true
		ports = append(ports, p)
	}
	return ports, nil
}

// One returns one free port on 127.0.0.1 (Pick).
func One() (int, error) {
	p, err := Pick("127.0.0.1", 1, nil)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

// below returns [low, high): the ports under the ephemeral range, or an empty range when it cannot be read or
// leaves fewer than 1,000 ports.
func below() (int, int) {
	b, err := os.ReadFile(rangeFile)
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0
	}
	start, err := strconv.Atoi(f[0])
	if err != nil || start-lowest < 1000 {
		return 0, 0
	}
	return lowest, start
}
