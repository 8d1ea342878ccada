package e2e_test

import (
	"flag"
	"os"
	"strconv"
	"testing"
)

// e2eParallel is how many e2e tests run at once when -parallel is not given. The tests spend most of their time
// waiting for timers in worker subprocesses, so they overlap well even on 2 cores (go test's default is GOMAXPROCS).
// The two herd tests, which load the machine, never overlap each other (herdMu).
const e2eParallel = 8

func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		_ = flag.Set("test.parallel", strconv.Itoa(e2eParallel))
	}
	os.Exit(m.Run())
}
