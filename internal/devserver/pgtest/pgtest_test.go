package pgtest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestStartStopRestart starts a cluster, stops it and starts it again on the same directory (reusing the
// cluster, not running initdb again).
func TestStartStopRestart(t *testing.T) {
	s := ForTest(t, Options{NoFsync: true})
	if c, err := net.DialTimeout("tcp", s.Addr(), 2*time.Second); err != nil {
		t.Fatalf("dial %s: %v", s.Addr(), err)
	} else {
		c.Close()
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "data", "postmaster.pid")); !os.IsNotExist(err) {
		t.Errorf("postmaster.pid still there after Stop: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	began := time.Now()
	s2, err := Start(ctx, Options{Dir: s.Dir(), NoFsync: true})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer s2.Stop()
	t.Logf("restart on the existing cluster took %v", time.Since(began).Round(time.Millisecond))
}
