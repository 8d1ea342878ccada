package devserver

import (
	"fmt"
	"net"
	"strconv"
)

// FreePort returns a TCP port that is free on 127.0.0.1 at the time of the
// call. Another process may take it before it is used; that is good enough
// for tests and for picking the server's internal ports.
func FreePort() (int, error) {
	ports, err := freePorts("127.0.0.1", 1, nil)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// freePorts returns n distinct ports that are free on host and not in
// exclude. All listeners are held until every port is chosen, so the ports
// are distinct from each other.
func freePorts(host string, n int, exclude map[int]bool) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for attempts := 0; len(ports) < n; attempts++ {
		if attempts > 100*n {
			return nil, fmt.Errorf("devserver: could not find %d free ports on %s", n, host)
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("devserver: finding a free port on %s: %w", host, err)
		}
		listeners = append(listeners, l)
		p := l.Addr().(*net.TCPAddr).Port
		if exclude[p] {
			continue
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// checkPortFree returns a descriptive error when host:port cannot be bound.
// The Temporal server's own listener code would log "fatal" and crash on a
// taken port, and the UI server calls os.Exit, so we check first.
func checkPortFree(what, host string, port int) error {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("devserver: cannot listen on %s for the %s (port already in use? another Temporal server or worker running?): %w", addr, what, err)
	}
	return l.Close()
}
