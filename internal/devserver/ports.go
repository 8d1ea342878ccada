package devserver

import (
	"fmt"
	"net"
	"strconv"

	"github.com/apptnotify/apptnotify/internal/freeport"
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

// freePorts returns n distinct ports that are free on host and not in exclude, below the ephemeral range
// (internal/freeport).
func freePorts(host string, n int, exclude map[int]bool) ([]int, error) {
	return freeport.Pick(host, n, exclude)
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
