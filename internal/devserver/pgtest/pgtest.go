// Package pgtest runs a private PostgreSQL server for tests and the bench: Debian's PostgreSQL binaries
// (/usr/lib/postgresql/<version>/bin), a cluster initialised in a directory of our choice, listening only on
// 127.0.0.1 on a free port, with trust authentication and no Unix socket.
//
// PostgreSQL refuses to run as root. When this process is root, initdb and postgres run as the "postgres" OS
// user (the Debian package creates it): the child processes get that user's credentials directly, which is what
// `runuser -u postgres --` would do, minus an extra process between us and postgres that would have to forward
// signals. Otherwise they run as the current user.
//
// The postgres process is a child of this process. It is stopped by Stop (fast shutdown), and it also gets
// SIGINT if this process dies without calling Stop, so a killed test does not leave a server behind.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apptnotify/apptnotify/internal/freeport"
)

// Defaults used when the corresponding Options field is zero.
const (
	DefaultUser           = "postgres"
	DefaultMaxConnections = 200
	// DefaultBinDir is where Debian's postgresql-15 package puts the server binaries.
	DefaultBinDir = "/usr/lib/postgresql/15/bin"

	osUser = "postgres" // the OS user that runs PostgreSQL when we are root
)

// Options configures Start.
type Options struct {
	// Dir holds the cluster (Dir/data) and its log (Dir/postgres.log). Created if missing. If Dir/data already
	// holds a cluster it is reused, with its databases. Required.
	Dir string
	// Port on 127.0.0.1. 0: a free port.
	Port int
	// User is the superuser created by initdb (trust authentication, no password). Default "postgres". Only used
	// when the cluster is created.
	User string
	// MaxConnections is max_connections. Default 200. The embedded Temporal server opens a pool per service and
	// store (see devserver.PostgresOptions.MaxConns).
	MaxConnections int
	// NoFsync sets fsync=off and full_page_writes=off: faster, and a crash of the machine (not of PostgreSQL)
	// may corrupt the cluster. synchronous_commit is always off.
	NoFsync bool
	// Settings are extra postgres -c settings (name -> value); they override the ones above.
	Settings map[string]string
	// BinDir holds initdb, postgres and pg_isready. Default DefaultBinDir, or else the newest
	// /usr/lib/postgresql/*/bin.
	BinDir string
}

// Server is a running PostgreSQL server. Stop it with Stop.
type Server struct {
	addr    string
	user    string
	dir     string
	logPath string
	binDir  string

	proc     *os.Process
	exited   chan struct{} // closed when the postgres process has exited
	waitErr  error         // valid once exited is closed
	stopOnce sync.Once
	stopErr  error
}

// Addr is the server's host:port (127.0.0.1:port).
func (s *Server) Addr() string { return s.addr }

// User is the superuser to connect as (no password needed).
func (s *Server) User() string { return s.user }

// Dir is the directory given in Options.Dir (absolute).
func (s *Server) Dir() string { return s.dir }

// LogPath is the server's log file.
func (s *Server) LogPath() string { return s.logPath }

// BinDir returns the directory of the PostgreSQL server binaries to use, or an error saying what is missing.
func BinDir(preferred string) (string, error) {
	if preferred != "" {
		if err := hasBinaries(preferred); err != nil {
			return "", err
		}
		return preferred, nil
	}
	if hasBinaries(DefaultBinDir) == nil {
		return DefaultBinDir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if hasBinaries(d) == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("pgtest: no PostgreSQL server binaries (initdb, postgres, pg_isready) in %s or /usr/lib/postgresql/*/bin; install the Debian package postgresql", DefaultBinDir)
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func hasBinaries(dir string) error {
	for _, name := range []string{"initdb", "postgres", "pg_isready"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	return nil
}

// Available reports why Start cannot work here (no binaries; root without a "postgres" OS user), or nil.
func Available() error {
	if _, err := BinDir(""); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup(osUser); err != nil {
			return fmt.Errorf("pgtest: running as root and there is no %q OS user to run PostgreSQL as: %w", osUser, err)
		}
	}
	return nil
}

// ForTest starts a private PostgreSQL server in a new temporary directory and stops it (and removes the
// directory) when the test ends. opts.Dir is ignored.
//
// It skips the test when PostgreSQL is not installed, even when $CI is set (unlike internal/testenv's tools): the
// embedded PostgreSQL backend is a bench option, not what the product ships. .ci/run installs Debian's postgresql
// for the cluster test (e2e TestClusterTopology, which fails instead of skipping), so these tests run in CI too.
func ForTest(t testing.TB, opts Options) *Server {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("PostgreSQL not available: %v", err)
	}
	// Not t.TempDir(): that directory is 0700 root-owned, and the postgres OS user must reach Dir/data.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // MkdirTemp makes it 0700
		t.Fatal(err)
	}
	opts.Dir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("PostgreSQL on %s started in %v (dir %s)", s.Addr(), time.Since(began).Round(time.Millisecond), dir)
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping PostgreSQL: %v", err)
		}
	})
	return s
}

// Start initialises the cluster in opts.Dir/data if needed, starts postgres and returns once it accepts
// connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("pgtest: Options.Dir is required")
	}
	binDir, err := BinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	if opts.User == "" {
		opts.User = DefaultUser
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = DefaultMaxConnections
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}

	// Dir must be traversable by the postgres OS user; data must be owned by it, mode 0700.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	dataDir := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := initdb(ctx, binDir, dataDir, opts.User, cred); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}

	port := opts.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	s := &Server{
		addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		user:    opts.User,
		dir:     dir,
		logPath: filepath.Join(dir, "postgres.log"),
		binDir:  binDir,
		exited:  make(chan struct{}),
	}

	settings := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"port":                    strconv.Itoa(port),
		"unix_socket_directories": "", // TCP only: no dependency on /var/run/postgresql
		"max_connections":         strconv.Itoa(opts.MaxConnections),
		"synchronous_commit":      "off",
	}
	if opts.NoFsync {
		settings["fsync"] = "off"
		settings["full_page_writes"] = "off"
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	args := []string{"-D", dataDir}
	for _, k := range sortedKeys(settings) {
		args = append(args, "-c", k+"="+settings[k])
	}

	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	defer logFile.Close() // the child has its own copy
	cmd := exec.Command(filepath.Join(binDir, "postgres"), args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		// Own process group: a Ctrl-C in the terminal reaches us, and we stop postgres after the Temporal
		// server that uses it, not at the same time.
		Setpgid: true,
		// If we die without Stop, postgres does a fast shutdown.
		Pdeathsig: syscall.SIGINT,
	}

	// Pdeathsig fires when the OS thread that started the child exits, not the process, and the Go runtime
	// may end idle threads that a goroutine locked. So start the child from a goroutine that holds its
	// thread until the child has exited.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine, after the child
		if err := cmd.Start(); err != nil {
			started <- err
			close(s.exited)
			return
		}
		s.proc = cmd.Process
		started <- nil
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("pgtest: starting postgres: %w", err)
	}

	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls pg_isready until the server accepts connections.
func (s *Server) waitReady(ctx context.Context) error {
	host, port, _ := net.SplitHostPort(s.addr)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := exec.CommandContext(cctx, filepath.Join(s.binDir, "pg_isready"),
			"-q", "-h", host, "-p", port, "-U", s.user, "-d", "postgres", "-t", "2").Run()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("pgtest: postgres exited while starting (%v); log %s:\n%s", s.waitErr, s.logPath, tail(s.logPath, 2000))
		case <-ctx.Done():
			return fmt.Errorf("pgtest: postgres on %s not ready: %w; log %s:\n%s", s.addr, ctx.Err(), s.logPath, tail(s.logPath, 2000))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop shuts the server down (fast shutdown: open sessions are ended, committed data is kept) and waits for
// it. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.proc == nil {
			return
		}
		select {
		case <-s.exited:
			return
		default:
		}
		_ = s.proc.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
			return
		case <-time.After(30 * time.Second):
		}
		_ = s.proc.Signal(syscall.SIGQUIT) // immediate shutdown
		select {
		case <-s.exited:
			s.stopErr = errors.New("pgtest: postgres needed an immediate shutdown (SIGQUIT)")
		case <-time.After(10 * time.Second):
			_ = s.proc.Kill()
			<-s.exited
			s.stopErr = errors.New("pgtest: postgres had to be killed")
		}
	})
	return s.stopErr
}

// initdb creates a cluster in dataDir with a trust-authenticated superuser.
func initdb(ctx context.Context, binDir, dataDir, superuser string, cred *syscall.Credential) error {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dataDir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"-D", dataDir,
		"-U", superuser,
		"--auth=trust", // only 127.0.0.1 is listened on, and no Unix socket
		"--encoding=UTF8", "--locale=C",
		"--no-sync", // a fresh test cluster: nothing to lose
	)
	cmd.Dir = filepath.Dir(dataDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out, err := cmd.CombinedOutput()
	if err != nil {
		// A half-made cluster would be reused next time; remove it.
		_ = os.RemoveAll(dataDir)
		hint := ""
		if cred != nil {
			hint = fmt.Sprintf(" (the %q OS user must be able to reach %s)", osUser, dataDir)
		}
		return fmt.Errorf("pgtest: initdb in %s%s: %w\n%s", dataDir, hint, err, out)
	}
	return nil
}

// credential returns the postgres OS user's credentials when we are root, nil otherwise.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(osUser)
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, so PostgreSQL must run as the %q OS user: %w", osUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: uid of %q: %w", osUser, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: gid of %q: %w", osUser, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	p, err := freeport.One()
	if err != nil {
		return 0, fmt.Errorf("pgtest: %w", err)
	}
	return p, nil
}

// tail returns the last n bytes of a file, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, 0)
	}
	b := make([]byte, n)
	k, _ := f.Read(b)
	return strings.TrimSpace(string(b[:k]))
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
